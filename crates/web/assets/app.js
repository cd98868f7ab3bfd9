// PromptRefine — progressive enhancement only: every form works without this
// file. Adds confirmations, live variables, unsaved-change warnings, shortcuts,
// chat message editing, diff toggles, copy buttons and streamed runs.
(function () {
  "use strict";
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };
  var VAR_RE = /\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}/g;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text != null) e.textContent = text;
    return e;
  }

  // Confirmation on forms that say so (restore, revoke).
  $$("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      if (!window.confirm(f.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });

  // Copy buttons.
  $$("[data-copy]").forEach(function (b) {
    b.addEventListener("click", function () {
      var input = document.getElementById(b.getAttribute("data-copy"));
      input.select();
      var done = function () { b.textContent = "Copied"; };
      if (navigator.clipboard) navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
      else { document.execCommand("copy"); done(); }
    });
  });

  // Diff: switch side-by-side / inline without a reload.
  var toggle = $("[data-diff-toggle]");
  if (toggle) {
    toggle.addEventListener("click", function (ev) {
      ev.preventDefault();
      var wrap = $("#diff");
      var split = wrap.classList.contains("mode-split");
      wrap.classList.toggle("mode-split", !split);
      wrap.classList.toggle("mode-inline", split);
      toggle.textContent = split ? "Show side by side" : "Show inline";
      var url = new URL(window.location.href);
      url.searchParams.set("mode", split ? "inline" : "split");
      history.replaceState(null, "", url);
      $$("input[name=mode]").forEach(function (i) { i.value = split ? "inline" : "split"; });
    });
  }

  // --- editor ---------------------------------------------------------------
  var editor = $("form[data-editor]");
  var dirty = false;
  function detectVars() {
    var names = [];
    $$("[data-var-source]").forEach(function (t) {
      var m; VAR_RE.lastIndex = 0;
      while ((m = VAR_RE.exec(t.value)) !== null) {
        if (m.index > 0 && t.value.charAt(m.index - 1) === "\\") continue; // \{{ is a literal
        if (names.indexOf(m[1]) < 0) names.push(m[1]);
      }
    });
    return names;
  }
  function renderVars() {
    var names = detectVars();
    var list = $("#var-list");
    if (list) {
      list.textContent = "";
      names.forEach(function (n) { list.appendChild(el("li", { "class": "var-chip" }, n)); });
      var none = $("#no-vars"); if (none) none.hidden = names.length > 0;
    }
    syncRunVars(names);
  }
  function syncRunVars(names) {
    var box = $("#run-vars");
    if (!box) return;
    var existing = {};
    $$("[data-var-field]", box).forEach(function (f) { existing[f.getAttribute("data-var-field")] = f; });
    names.forEach(function (n) {
      if (existing[n]) { box.appendChild(existing[n]); delete existing[n]; return; }
      var f = el("div", { "class": "field", "data-var-field": n });
      f.appendChild(el("label", { "for": "var-" + n }, n));
      f.appendChild(el("textarea", { id: "var-" + n, "data-var": n, rows: "2" }));
      box.appendChild(f);
    });
    Object.keys(existing).forEach(function (k) { existing[k].remove(); });
    var empty = $("#run-vars-empty"); if (empty) { empty.hidden = names.length > 0; box.appendChild(empty); }
  }
  // Highlight {{variables}} inside the editors: a backdrop <pre> behind a
  // transparent textarea mirrors its text with each variable in a <mark>.
  // Built from text nodes only, so a body holding markup stays text.
  function highlight(t) {
    var back = t.parentNode && t.parentNode.classList.contains("hl-wrap") ? t.previousSibling : null;
    if (!back) {
      var wrap = el("div", { "class": "hl-wrap" });
      back = el("pre", { "class": "hl-backdrop", "aria-hidden": "true" });
      t.parentNode.insertBefore(wrap, t);
      wrap.appendChild(back); wrap.appendChild(t);
      t.classList.add("hl-input");
      t.addEventListener("scroll", function () { back.scrollTop = t.scrollTop; back.scrollLeft = t.scrollLeft; });
    }
    back.textContent = "";
    var text = t.value, last = 0, m;
    var re = new RegExp(VAR_RE.source, "g");
    while ((m = re.exec(text)) !== null) {
      if (m.index > 0 && text.charAt(m.index - 1) === "\\") continue;
      back.appendChild(document.createTextNode(text.slice(last, m.index)));
      back.appendChild(el("mark", {}, m[0]));
      last = m.index + m[0].length;
    }
    back.appendChild(document.createTextNode(text.slice(last) + "\n"));
  }
  $$("[data-var-source]").forEach(highlight);

  function markDirty() {
    dirty = true;
    var note = $("#dirty-note"); if (note) note.hidden = false;
  }
  if (editor) {
    editor.addEventListener("input", function (ev) {
      markDirty();
      if (ev.target.hasAttribute("data-var-source")) { renderVars(); highlight(ev.target); }
    });
    editor.addEventListener("change", markDirty);
    editor.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (ev) {
      if (dirty) { ev.preventDefault(); ev.returnValue = ""; }
    });
    document.addEventListener("keydown", function (ev) {
      if ((ev.ctrlKey || ev.metaKey) && (ev.key === "s" || ev.key === "S")) {
        ev.preventDefault();
        dirty = false;
        if (editor.requestSubmit) editor.requestSubmit(); else editor.submit();
      }
    });
    setupChat();
  }

  function setupChat() {
    var box = $("#messages");
    if (!box) return;
    var add = $("#add-message");
    add.hidden = false;
    function renumber() {
      $$("[data-message]", box).forEach(function (m, i) {
        var s = $("select", m), t = $("textarea", m), ls = $$("label", m);
        s.id = "role-" + (i + 1); t.id = "content-" + (i + 1);
        ls[0].setAttribute("for", s.id); ls[0].textContent = "Role of message " + (i + 1);
        ls[1].setAttribute("for", t.id); ls[1].textContent = "Content of message " + (i + 1);
      });
    }
    function actions(m) {
      var span = $("[data-msg-actions]", m);
      span.textContent = "";
      [["↑", "Move up", "up"], ["↓", "Move down", "down"], ["×", "Remove", "remove"]].forEach(function (a) {
        var b = el("button", { type: "button", "class": "btn btn-sm btn-ghost", "aria-label": a[1] + " message", title: a[1], "data-act": a[2] }, a[0]);
        span.appendChild(b);
      });
    }
    $$("[data-message]", box).forEach(actions);
    box.addEventListener("click", function (ev) {
      var b = ev.target.closest("[data-act]");
      if (!b) return;
      var m = b.closest("[data-message]");
      var act = b.getAttribute("data-act");
      if (act === "up" && m.previousElementSibling && m.previousElementSibling.hasAttribute("data-message")) box.insertBefore(m, m.previousElementSibling);
      else if (act === "down" && m.nextElementSibling && m.nextElementSibling.hasAttribute("data-message")) box.insertBefore(m.nextElementSibling, m);
      else if (act === "remove") m.remove();
      renumber(); markDirty(); renderVars(); b.focus();
    });
    add.addEventListener("click", function () {
      var m = el("div", { "class": "message", "data-message": "" });
      var head = el("div", { "class": "message-head" });
      var l1 = el("label", { "class": "sr-only" });
      var s = el("select", { name: "role" });
      ["system", "user", "assistant", "developer", "tool"].forEach(function (r) { var o = el("option", { value: r }, r); if (r === "user") o.selected = true; s.appendChild(o); });
      head.appendChild(l1); head.appendChild(s); head.appendChild(el("span", { "class": "msg-actions", "data-msg-actions": "" }));
      var l2 = el("label", { "class": "sr-only" });
      var t = el("textarea", { name: "content", rows: "4", "class": "mono", "data-var-source": "" });
      var x = el("input", { type: "hidden", name: "message_extra", value: "" });
      m.appendChild(head); m.appendChild(l2); m.appendChild(t); m.appendChild(x);
      box.insertBefore(m, add);
      actions(m); renumber(); markDirty(); highlight(t); t.focus();
    });
  }

  // --- run panel --------------------------------------------------------------
  var panel = $("#run-panel");
  var runForm = $("#run-form");
  if (panel && runForm) setupRuns();

  function setupRuns() {
    var promptId = panel.getAttribute("data-prompt-id");
    var select = $("#run-model");
    var runBtn = $("#run-button"), cancelBtn = $("#cancel-button");
    var out = $("#run-output"), status = $("#run-status"), errBox = $("#run-error");
    var current = null, controller = null;

    fetch("/api/models", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (body) {
      (body.data || []).forEach(function (p) {
        var group = el("optgroup", { label: p.provider + (p.hasKey ? "" : " (no key)") });
        p.models.forEach(function (m) { group.appendChild(el("option", { value: p.provider + "\u0000" + m }, m)); });
        select.appendChild(group);
      });
    }).catch(function () { /* the default model still works */ });
    // Presets: a choice here sends `preset` (its provider, model and params)
    // instead of a provider and model; the overrides below still win. The
    // value's "@" cannot begin a provider's name.
    fetch("/api/model-presets", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (body) {
      var presets = body.data || [];
      if (!presets.length) return;
      var group = el("optgroup", { label: "Presets", id: "run-presets" });
      presets.forEach(function (p) {
        group.appendChild(el("option", { value: "@preset:" + p.name, "data-preset": p.name },
          p.name + " (" + (p.provider || "default") + "/" + p.model + ")"));
      });
      select.insertBefore(group, select.children[1] || null);
    }).catch(function () { /* providers and models still work */ });

    function num(id) { var v = $(id).value.trim(); return v === "" ? undefined : Number(v); }
    function setStatus(s) { status.textContent = s; status.setAttribute("data-status", s); }
    function fmtCost(m) { return m == null ? "—" : "$" + (m / 1e6).toFixed(6); }
    function fmt(v, unit) { return v == null ? "—" : v + (unit || ""); }
    function showErr(code, message) {
      errBox.hidden = false;
      errBox.textContent = (message || "The run failed.") + (code ? " (code: " + code + ")" : "");
    }
    function finish(run) {
      runBtn.disabled = false; cancelBtn.hidden = true; controller = null;
      if (!run) return;
      setStatus(run.status);
      if (run.output && out.textContent !== run.output) out.textContent = run.output;
      $("#run-stats").hidden = false;
      $("#stat-tokens").textContent = run.totalTokens == null ? "—" : run.promptTokens + " in · " + run.completionTokens + " out · " + run.totalTokens + " total" + (run.tokensEstimated ? " (estimated)" : "");
      $("#stat-cost").textContent = fmtCost(run.costMicroUsd);
      $("#stat-latency").textContent = fmt(run.latencyMs, " ms");
      $("#stat-ttft").textContent = fmt(run.ttftMs, " ms");
      if (run.errorCode && errBox.hidden) showErr(run.errorCode, run.errorMessage);
      addHistoryRow(run);
    }
    function addHistoryRow(run) {
      var rows = $("#run-rows"); if (!rows) return;
      var tr = el("tr", { "data-run": run.id });
      var td0 = el("td"); td0.appendChild(el("input", { type: "checkbox", name: "run", value: run.id, "aria-label": "Compare this run" }));
      tr.appendChild(td0);
      var td1 = el("td"); td1.appendChild(el("a", { href: "/app/runs/" + run.id, "class": "status", "data-status": run.status }, run.status)); tr.appendChild(td1);
      tr.appendChild(el("td", {}, "v" + panel.getAttribute("data-version-number")));
      tr.appendChild(el("td", {}, run.provider + "/" + run.model));
      tr.appendChild(el("td", {}, fmt(run.totalTokens)));
      tr.appendChild(el("td", {}, fmtCost(run.costMicroUsd)));
      tr.appendChild(el("td", {}, fmt(run.latencyMs, " ms")));
      var td = el("td"); td.appendChild(el("a", { href: "/app/runs/" + run.id }, new Date(run.createdAt).toISOString().slice(0, 16).replace("T", " ") + " UTC")); tr.appendChild(td);
      rows.insertBefore(tr, rows.firstChild);
      var none = $("#no-runs"); if (none) none.hidden = true;
      var table = $("#run-history"); if (table) table.hidden = false;
    }

    function start() {
      if (controller) return;
      var body = { promptId: promptId, stream: true, variables: {} };
      var versionId = panel.getAttribute("data-version-id");
      if (versionId) body.versionId = versionId;
      if (select.value.indexOf("@preset:") === 0) body.preset = select.value.slice(8);
      else if (select.value) { var parts = select.value.split("\u0000"); body.provider = parts[0]; body.model = parts[1]; }
      var params = {};
      var t = num("#run-temperature"), mt = num("#run-max-tokens"), tp = num("#run-top-p");
      if (t !== undefined) params.temperature = t;
      if (mt !== undefined) params.maxTokens = mt;
      if (tp !== undefined) params.topP = tp;
      if (Object.keys(params).length) body.params = params;
      $$("[data-var]", panel).forEach(function (i) { body.variables[i.getAttribute("data-var")] = i.value; });

      $("#run-result").hidden = false; out.textContent = ""; errBox.hidden = true; $("#run-stats").hidden = true;
      $("#run-link").hidden = true; setStatus("running"); runBtn.disabled = true; cancelBtn.hidden = false; current = null;
      controller = new AbortController();
      var finalRun = null;
      fetch("/api/test-runs", {
        method: "POST", credentials: "same-origin", signal: controller.signal,
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify(body)
      }).then(function (res) {
        var type = res.headers.get("content-type") || "";
        if (!res.ok || type.indexOf("text/event-stream") < 0) {
          return res.json().then(function (j) {
            var e = j.error || {};
            setStatus("failed"); showErr(e.code, e.message + (e.details && e.details.fields ? ": " + e.details.fields.map(function (f) { return f.message; }).join("; ") : ""));
            finish(null);
          });
        }
        var reader = res.body.getReader(), decoder = new TextDecoder(), buf = "";
        function handle(block) {
          var event = "message", data = [];
          block.split("\n").forEach(function (line) {
            if (line.indexOf("event:") === 0) event = line.slice(6).trim();
            else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
          });
          if (!data.length) return;
          var payload; try { payload = JSON.parse(data.join("\n")); } catch (e) { return; }
          if (event === "run") { current = payload; var a = $("#run-link"); a.href = "/app/runs/" + payload.id; a.hidden = false; }
          else if (event === "delta") out.textContent += payload.text;
          else if (event === "error") showErr(payload.code, payload.message);
          else if (event === "done") finalRun = payload;
        }
        function pump() {
          return reader.read().then(function (r) {
            if (r.done) { finish(finalRun); return; }
            buf += decoder.decode(r.value, { stream: true }).replace(/\r\n/g, "\n");
            var i;
            while ((i = buf.indexOf("\n\n")) >= 0) { handle(buf.slice(0, i)); buf = buf.slice(i + 2); }
            return pump();
          });
        }
        return pump();
      }).catch(function (e) {
        if (e && e.name === "AbortError") return;
        setStatus("failed"); showErr("network", "The connection to the server was lost.");
        finish(null);
      });
    }

    runForm.addEventListener("submit", function (ev) { ev.preventDefault(); start(); });
    document.addEventListener("keydown", function (ev) {
      if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter") { ev.preventDefault(); start(); }
    });
    cancelBtn.addEventListener("click", function () {
      if (!current) return;
      cancelBtn.disabled = true;
      fetch("/api/test-runs/" + current.id + "/cancel", { method: "POST", credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (j) { cancelBtn.disabled = false; if (j.data && controller) { /* the stream ends with done */ } })
        .catch(function () { cancelBtn.disabled = false; });
    });
  }
  // Dataset upload: read the chosen file into the form's text box (the form
  // posts text, so it also works by pasting without this), and pick the
  // format from the file name.
  $$("input[type=file][data-file-into]").forEach(function (input) {
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      var target = document.getElementById(input.getAttribute("data-file-into"));
      if (!file || !target) return;
      var select = document.getElementById(input.getAttribute("data-format-select") || "");
      if (select) select.value = /\.(jsonl|ndjson)$/i.test(file.name) ? "jsonl" : "csv";
      var reader = new FileReader();
      reader.onload = function () { target.value = String(reader.result || ""); };
      reader.readAsText(file);
    });
  });
  // --- experiment page: live progress -----------------------------------------
  // The page is drawn from the server's state; this follows the experiment's
  // events (`progress`, then `done`) and redraws the counts, the bar, spend,
  // ETA and controls; the results are fetched again as cells end. A stream
  // that breaks (a restart) is opened again with backoff.
  var live = $("[data-experiment-live]");
  if (live && window.EventSource) {
    var expId = live.getAttribute("data-experiment-live");
    var resultsSrc = live.getAttribute("data-results-src");
    var lastEnded = -1, lastStatus = null, fetching = false, again = false, backoff = 1000, source = null;
    var usd = function (m) { return m == null ? "no cap" : "$" + (m / 1e6).toFixed(6); };
    var setK = function (k, v) { var e = $("[data-k=" + k + "]", live); if (e) e.textContent = String(v); };
    function refreshResults() {
      if (!resultsSrc) return;
      if (fetching) { again = true; return; }
      fetching = true;
      fetch(resultsSrc, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
        var box = $("#results");
        if (html != null && box) box.innerHTML = html;
      }).catch(function () { /* the next event tries again */ }).then(function () {
        fetching = false;
        if (again) { again = false; refreshResults(); }
      });
    }
    function draw(e) {
      var p = e.progress, ended = p.succeeded + p.failed + p.cancelled;
      var bar = $("#exp-progress"); bar.max = p.total; bar.value = ended; bar.textContent = ended + " of " + p.total;
      setK("ended", ended); setK("total", p.total); setK("succeeded", p.succeeded); setK("failed", p.failed);
      setK("cancelled", p.cancelled); setK("running", p.running); setK("pending", p.pending);
      setK("spent", usd(e.costMicroUsd)); setK("reserved", usd(e.reservedMicroUsd)); setK("budget", usd(e.maxCostMicroUsd));
      var eta = "";
      if (e.status === "running" && e.startedAt && ended > 0) {
        var secs = Math.max(0, (Date.now() - Date.parse(e.startedAt)) / 1000) * (p.total - ended) / ended;
        secs = Math.round(secs);
        eta = secs < 60 ? "about " + secs + " s left" : "about " + Math.floor(secs / 60) + " min " + (secs % 60) + " s left";
      }
      $("#exp-eta").textContent = eta;
      var st = $("#exp-status"); st.textContent = e.status; st.setAttribute("data-status", e.status);
      var paused = e.status === "paused";
      var note = $("#exp-paused");
      note.hidden = !paused;
      if (paused) note.textContent = e.pauseReason === "budget" ? "Paused: the next cell would cross the budget. Resume with a higher budget to finish." : "Paused.";
      $("#pause-form").hidden = !(e.status === "queued" || e.status === "running");
      $("#resume-form").hidden = !paused;
      if (ended !== lastEnded) { lastEnded = ended; refreshResults(); }
      lastStatus = e.status;
    }
    function open() {
      source = new EventSource("/api/experiments/" + encodeURIComponent(expId) + "/events");
      source.addEventListener("progress", function (ev) { backoff = 1000; draw(JSON.parse(ev.data)); });
      source.addEventListener("done", function (ev) {
        source.close();
        draw(JSON.parse(ev.data));
        // The summary and the comparison link are drawn by the server.
        window.location.reload();
      });
      source.onerror = function () {
        // The browser retries by itself while the stream is CONNECTING;
        // once it gives up (CLOSED), try again later ourselves.
        if (source.readyState === 2) { setTimeout(open, backoff); backoff = Math.min(backoff * 2, 15000); }
      };
    }
    open();
  }
})();
