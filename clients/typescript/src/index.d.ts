export type Message = { role: "system" | "user" | "assistant"; content: string };
export type Content = string | Message[];

export class RenderError extends Error {}
export class MissingVariables extends RenderError { names: string[] }
export class RenderedTooLarge extends RenderError { limit: number }
export function render(template: string, values: Record<string, string>): string;
export function variables(template: string): string[];

export class PromptRefineError extends Error { status: number; code: string }
export class Unavailable extends PromptRefineError {}

export class Prompt {
  constructor(fields: Partial<Prompt> & { slug: string; content: Content });
  id?: string;
  slug: string;
  title?: string;
  label?: string | null;
  content: Content;
  settings: Record<string, unknown>;
  variables: string[];
  version?: number;
  etag?: string | null;
  /** Date.now() of the last answer. */
  fetchedAt: number;
  /** Served from a copy because the server did not answer. */
  stale: boolean;
  /** The caller's fallback (cold start, server down). */
  fromFallback: boolean;
  readonly type: "text" | "chat";
  render(values: Record<string, string>): Content;
}

export interface ClientOptions {
  /** ms a copy is used without asking the server (default 0: always revalidate). */
  maxAge?: number;
  /** ms a copy may be old when served because the server is down (default 300000). */
  staleFor?: number;
  /** ms per request (default 5000). */
  timeout?: number;
}

export class Client {
  constructor(baseUrl: string, token: string, opts?: ClientOptions);
  getPrompt(slug: string, opts?: { label?: string; version?: number; fallback?: Prompt }): Promise<Prompt>;
  watch(slug: string, opts?: { label?: string; retry?: number }): () => Promise<void>;
  close(): Promise<void>;
  cache: Map<string, Prompt>;
}
