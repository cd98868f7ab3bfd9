// The server's template rules (crates/core/src/template), ported line by line:
// `{{name}}` with ASCII whitespace allowed inside; a name is a letter or `_`
// then letters, digits, `_`, `.`; anything else is text; before `{{` each `\\`
// is one backslash and an odd one makes the braces literal; values verbatim;
// a missing value is an error naming every missing variable in order.

export const MAX_RENDERED_BYTES = 4 * 1024 * 1024;
const WS = new Set([" ", "\t", "\n", "\r", "\f"]);

export class RenderError extends Error {}

export class MissingVariables extends RenderError {
  /** @param {string[]} names */
  constructor(names) {
    super(`missing values for variables: ${names.join(", ")}`);
    this.names = names;
  }
}

export class RenderedTooLarge extends RenderError {
  /** @param {number} limit */
  constructor(limit) {
    super(`the rendered text would be larger than ${limit} bytes`);
    this.limit = limit;
  }
}

const isNameChar = (c) => /^[A-Za-z0-9_.]$/.test(c);

/** @param {string} name */
export function isVariableName(name) {
  return /^[A-Za-z_][A-Za-z0-9_.]*$/.test(name);
}

function parseTag(t, start) {
  let i = start;
  while (i < t.length && WS.has(t[i])) i++;
  let j = i;
  while (j < t.length && isNameChar(t[j])) j++;
  const name = t.slice(i, j);
  if (!isVariableName(name)) return null;
  let k = j;
  while (k < t.length && WS.has(t[k])) k++;
  return t.startsWith("}}", k) ? [name, k + 2] : null;
}

function* scan(t) {
  let pending = 0;
  let search = 0;
  for (;;) {
    const open = t.indexOf("{{", search);
    if (open < 0) break;
    let b = 0;
    while (open - b - 1 >= pending && t[open - b - 1] === "\\") b++;
    const keptEnd = open - b + Math.floor(b / 2);
    const escaped = b % 2 === 1;
    const tag = escaped ? null : parseTag(t, open + 2);
    if (b > 0 || tag) {
      if (keptEnd > pending) yield ["text", t.slice(pending, keptEnd)];
      pending = open;
    }
    if (tag) {
      yield ["var", tag[0]];
      pending = tag[1];
      search = pending;
    } else if (escaped) search = open + 2;
    else search = open + 1;
  }
  if (pending < t.length) yield ["text", t.slice(pending)];
}

const utf8 = new TextEncoder();

/** @param {string} template */
export function variables(template) {
  const seen = new Set();
  for (const [kind, v] of scan(template)) if (kind === "var") seen.add(v);
  return [...seen];
}

/**
 * Several texts (a chat's messages) under one size cap, as the server does.
 * @param {string[]} texts @param {Record<string,string>} values
 */
export function renderTexts(texts, values, limit = MAX_RENDERED_BYTES) {
  const missing = new Set();
  let used = 0;
  const out = texts.map((t) => {
    let s = "";
    for (const [kind, v] of scan(t)) {
      if (kind === "text") {
        used += utf8.encode(v).length;
        s += v;
      } else if (Object.prototype.hasOwnProperty.call(values, v)) {
        const value = String(values[v]);
        used += utf8.encode(value).length;
        s += value;
      } else missing.add(v);
    }
    return s;
  });
  if (missing.size) throw new MissingVariables([...missing]);
  if (used > limit) throw new RenderedTooLarge(limit);
  return out;
}

/** @param {string} template @param {Record<string,string>} values */
export function render(template, values) {
  return renderTexts([template], values)[0];
}
