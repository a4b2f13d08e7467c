// @jspolicy/types for jspolicy: the globals every policy sees, typed after what
// jspolicy's runtime (jspolicy/runtime/js/runtime.js) really does, plus Kubernetes and
// jsPolicy object types. Add "./node_modules/@jspolicy" to typeRoots (and "types" to
// compilerOptions.types) or import anything from "@jspolicy/types" to get the globals.
//
// Differences from loft-sh's @jspolicy/types 0.0.4, all following jspolicy's runtime:
// terminal helpers return `never`; fetchSync().status is a number; list() never
// returns undefined and its cache option is a boolean ('smart' throws); atob() returns
// undefined for invalid base64; deny() takes the optional reason and code; console
// exists; timestamps are strings, not Dates; the types are interfaces (no classes, no
// JavaScript: `new V1ObjectMeta()` or `V1ObjectMeta.attributeTypeMap` are not provided).

import type { V1AdmissionRequest } from "./admission";
import type { KubernetesObject } from "./kubernetes";

export * from "./admission";
export * from "./kubernetes";
export * from "./jspolicy";

/** What create(), update() and remove() return: API errors are results, not exceptions. */
export interface ActionResult<T = KubernetesObject> {
  ok: boolean;
  /** On success: the object the API server returned (on a dry-run request: what it would have written). */
  object?: T;
  /** On failure: the Kubernetes StatusReason, e.g. AlreadyExists, Conflict, Forbidden, Invalid, NotFound. */
  reason?: string;
  /** On failure: the error text. */
  message?: string;
}

/**
 * What get(), list(), create(), update() and remove() throw for bad arguments or
 * failed reads: reason WrongArguments, UnmarshalOptions, UnmarshalObject,
 * RetrieveObject, ErrorListing or ParseLabelSelector. fetchSync throws a string instead.
 */
export interface JsPolicyStatusError {
  reason: string;
  message: string;
  toString(): string;
}

export interface GetOptions {
  /** true (default): the informer cache; false: a direct API read; 'smart': cache, then API when not found. */
  cache?: boolean | "smart" | null;
}

export interface ListOptions {
  /** Only this namespace (default: all). */
  namespace?: string | null;
  /** A Kubernetes label selector; set-based terms (in, notin, !key) apply too. */
  labelSelector?: string | null;
  /** true (default): the informer cache; false: a direct API list. 'smart' is not accepted (it throws). */
  cache?: boolean | null;
}

export interface FetchOptions {
  /** Default GET. */
  method?: string;
  headers?: { [name: string]: string } | null;
  body?: string | null;
  /** Skip TLS certificate verification. */
  insecure?: boolean;
}

export interface FetchResponse {
  /** The HTTP status code, e.g. 200 (a number: the old typings said string). */
  status: number;
  /** Go's status text, e.g. "200 OK". */
  statusText: string;
  /** The first value of each header, with canonical names (Content-Type); {} when there are none. */
  headers: { [name: string]: string };
  /** status is 2xx. */
  ok: boolean;
  /** The body ("" when empty). */
  text(): string;
  /** JSON.parse of the body (throws when it is not JSON). */
  json<T = any>(): T;
}

declare global {
  /** The AdmissionRequest being decided (a synthetic one in controller policies). */
  var request: V1AdmissionRequest;
  /** Where webpack's/esbuild's commonjs output writes its exports; policies do not need it. */
  var exports: any;

  /** Allows the request and stops the policy. */
  function allow(): never;
  /** Stops the policy; the request is allowed unless deny() was called (it cannot be, it stops too). */
  function exit(): never;
  /**
   * Denies the request and stops the policy. reason defaults to "Forbidden", code to 403
   * (used when it is a positive integer). In controller policies it records a violation.
   * (Non-string messages are turned into text at run time; the declaration asks for a
   * string to catch mistakes.)
   */
  function deny(message: string, reason?: string, code?: number): never;
  /** Adds a warning (prefixed "[<policy>]: "); does not stop the policy. */
  function warn(message: string): void;
  /**
   * Answers with a JSON Patch from the original object to `object` and stops the policy.
   * Only honoured by type: Mutating policies; needs a (non-array) object.
   */
  function mutate(object: object): never;
  /** Controller policies: run this object again later (with backoff). Stops the policy. */
  function requeue(message?: string): never;
  /** Logs the arguments joined by spaces; strings raw, other values as JSON. */
  function print(...args: unknown[]): void;
  /** Blocks for at most 1000 ms per call (and never past the policy's deadline). */
  function sleep(milliseconds: number): void;
  /** An environment variable of the jspolicy process; "" when unset or not allowed. */
  function env(name: string): string;
  /** A regular file's text; undefined when it cannot be read or is not allowed. */
  function readFileSync(path: string): string | undefined;
  /** base64 decode to UTF-8 text (Go's StdEncoding rules); undefined for invalid input. */
  function atob(encoded: string): string | undefined;
  /** base64 of the UTF-8 bytes of `text` (never throws, unlike the browser's btoa). */
  function btoa(text: string): string;

  /**
   * One object, or undefined when it does not exist. `name` is "namespace/name" for
   * namespaced kinds, "name" for cluster-scoped ones. Throws a JsPolicyStatusError.
   */
  function get<T = KubernetesObject>(kind: string, apiVersion: string, name: string, options?: GetOptions | null): T | undefined;
  /** The matching objects; [] when none match (jsPolicy returned undefined). Throws a JsPolicyStatusError. */
  function list<T = KubernetesObject>(kind: string, apiVersion: string, options?: ListOptions | null): T[];
  /** Creates the object (kind and apiVersion required). On a dry-run request nothing is written. */
  function create<T extends object = KubernetesObject>(object: T): ActionResult<T>;
  /** Replaces the object (PUT); a stale resourceVersion gives {ok: false, reason: "Conflict"}. */
  function update<T extends object = KubernetesObject>(object: T): ActionResult<T>;
  /** Deletes the object named by its apiVersion, kind, metadata.name and metadata.namespace. */
  function remove<T extends object = KubernetesObject>(object: T): ActionResult<T>;
  /**
   * Synchronous HTTP. Network errors, timeouts and refused hosts throw the string
   * "fetchSync: <error>".
   */
  function fetchSync(url: string, options?: FetchOptions | null): FetchResponse;

  /** log, info, warn, error and debug all print() (jsPolicy had no console). */
  interface Console {
    log(...data: any[]): void;
    info(...data: any[]): void;
    warn(...data: any[]): void;
    error(...data: any[]): void;
    debug(...data: any[]): void;
  }
  var console: Console;
}
