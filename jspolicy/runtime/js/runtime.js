// jspolicy runtime: installed once into every V8 context, then hardened.
//
// It provides jsPolicy's global helper API on top of one synchronous host
// function (a SharedArrayBuffer carries requests and replies), compiles each
// policy once per context into a function, and runs it with fresh per-run
// state. Called as (function)(globalThis, config) by runtime/context.py.
(function (g, config) {
  'use strict';

  // ---- captured intrinsics (nothing below may be replaced by a policy) -------------
  const rawHost = g.__jsp_host_raw;
  const buffer = g.__jsp_sab;
  delete g.__jsp_host_raw;
  delete g.__jsp_sab;

  const { apply: ReflectApply, ownKeys, getPrototypeOf, defineProperty, deleteProperty } = Reflect;
  const { freeze, isExtensible, getOwnPropertyDescriptor, getOwnPropertySymbols, keys: objectKeys } = Object;
  const jsonParse = JSON.parse;
  const jsonStringify = JSON.stringify;
  const fromCharCode = String.fromCharCode;
  const StringCtor = String;
  const ArrayIsArray = Array.isArray;
  const MathMin = Math.min;
  const NumberIsFinite = Number.isFinite;
  const ErrorCtor = Error;
  const RangeErrorCtor = RangeError;
  const TypeErrorCtor = TypeError;
  const SetCtor = Set;
  const WeakSetCtor = WeakSet;
  const MapCtor = Map;
  const indirectEval = eval;
  const FunctionCtor = Function;
  const ProxyCtor = Proxy;
  const regexExec = RegExp.prototype.exec;
  const EMPTY_PATTERN = /(?:)/;
  const call = (fn, self, ...args) => ReflectApply(fn, self, args);
  const strCharCodeAt = String.prototype.charCodeAt;
  const strSlice = String.prototype.slice;
  const strIndexOf = String.prototype.indexOf;
  const strSplit = String.prototype.split;
  const strReplace = String.prototype.replace;
  const regexTest = RegExp.prototype.test;
  const arrPush = Array.prototype.push;
  const arrJoin = Array.prototype.join;
  const arrSlice = Array.prototype.slice;
  const setHas = Set.prototype.has;
  const setAdd = Set.prototype.add;
  const mapGet = Map.prototype.get;
  const mapSet = Map.prototype.set;
  const mapDelete = Map.prototype.delete;

  const LIMITS = config.limits;
  // Every entry point below requires this per-context secret. Python puts it in the
  // tasks it posts; policy code cannot read a task's source or a strict function's
  // arguments, so it cannot call the runtime's internals (e.g. from a promise
  // callback that runs while the next evaluation is being prepared).
  const SECRET = config.secret;
  const AtomicsLoad = Atomics.load;
  const AtomicsStore = Atomics.store;

  // ---- the host channel -------------------------------------------------------------
  // int32 header slots (see runtime/channel.py): request length, reply status,
  // reply length, input length, evaluation token, started token, abort token,
  // request units that follow this chunk.
  const HEADER_SLOTS = 8;
  const header = new Int32Array(buffer, 0, HEADER_SLOTS);
  const units = new Uint16Array(buffer, HEADER_SLOTS * 4);
  const capacity = units.length;
  const subarray = Uint16Array.prototype.subarray;

  function readUnits(length) {
    let text = '';
    for (let offset = 0; offset < length; offset += 8192) {
      const end = MathMin(length, offset + 8192);
      text += ReflectApply(fromCharCode, null, call(subarray, units, offset, end));
    }
    return text;
  }

  function writeUnits(text, start, count) {
    for (let i = 0; i < count; i++) units[i] = call(strCharCodeAt, text, start + i);
  }

  // Sends op + NUL + payload (already a string) and returns the reply text.
  // Status 0 = reply complete, 1 = host error, 2 = send the next request chunk,
  // 3 = more reply chunks follow. The host refuses a request over its size limit
  // at the first chunk (it knows what follows): the error ends the sending.
  function hostText(op, payload) {
    const request = op + '\u0000' + payload;
    const total = request.length;
    let offset = 0;
    for (;;) {
      const count = MathMin(capacity, total - offset);
      writeUnits(request, offset, count);
      offset += count;
      header[7] = total - offset;
      header[0] = count;
      rawHost();
      if (header[1] !== 2) break;
    }
    let reply = '';
    for (;;) {
      const status = header[1];
      reply += readUnits(header[2]);
      if (status === 3) {
        header[0] = -1;
        rawHost();
        continue;
      }
      if (status === 1) throw new ErrorCtor(reply);
      return reply;
    }
  }

  function host(op, args) {
    const reply = hostText(op, jsonStringify(args));
    return reply.length ? jsonParse(reply) : undefined;
  }

  function readInput() {
    const length = header[3];
    if (length >= 0) return readUnits(length);
    return hostText('input', '[]');
  }

  // ---- text helpers -----------------------------------------------------------------
  function truncate(text, max) {
    if (text.length <= max) return text;
    return call(strSlice, text, 0, max) + '... [truncated ' + (text.length - max) + ' characters]';
  }

  // Strings are used as-is; other values become JSON (or String() when they
  // cannot be serialised), so warn(obj) and deny(123) work (jsPolicy answered 500).
  function toText(value) {
    if (typeof value === 'string') return value;
    if (value === undefined) return 'undefined';
    try {
      if (value instanceof ErrorCtor) return StringCtor(value);
      if (typeof value === 'object' && value !== null) {
        const json = jsonStringify(value);
        if (typeof json === 'string') return json;
      }
      return StringCtor(value);
    } catch (e) {
      if (e === EXIT) throw e;
      return '[unprintable ' + typeof value + ']';
    }
  }

  // ---- per-evaluation state ---------------------------------------------------------
  let state = null;
  const finished = () => new ErrorCtor('jsPolicy helpers can only be called while the policy evaluates');

  function current() {
    if (state === null || state.closed) throw finished();
    return state;
  }

  function serialiseResult(s) {
    const r = s.response;
    const result = { deny: false, warnings: [], reschedule: false };
    try {
      result.deny = r.deny === true;
      if (r.reason !== undefined && r.reason !== null) result.reason = truncate(toText(r.reason), LIMITS.reason);
      if (r.message !== undefined && r.message !== null) result.message = truncate(toText(r.message), LIMITS.message);
      if (typeof r.code === 'number' && NumberIsFinite(r.code) && r.code > 0 && r.code === (r.code | 0)) result.code = r.code;
      result.reschedule = r.reschedule === true;
      const warnings = r.warnings;
      const list = warnings === undefined || warnings === null ? [] : ArrayIsArray(warnings) ? warnings : [warnings];
      const n = MathMin(list.length, LIMITS.warnings);
      for (let i = 0; i < n; i++) call(arrPush, result.warnings, truncate(toText(list[i]), LIMITS.warning));
      if (list.length > n) call(arrPush, result.warnings, (list.length - n) + ' more warnings were dropped');
      if (r.patched !== undefined && r.patched !== null) {
        const patched = jsonStringify(r.patched);
        if (typeof patched !== 'string' || patched[0] !== '{') {
          result.error = 'mutate() needs an object, got ' + (ArrayIsArray(r.patched) ? 'an array' : typeof r.patched);
        } else if (patched.length > LIMITS.patched) {
          result.error = 'mutate(): the patched object is larger than ' + LIMITS.patched + ' characters';
        } else {
          result.patched = patched;
        }
      }
    } catch (e) {
      result.error = 'the policy result could not be read: ' + formatError(e);
    }
    if (s.error !== undefined) result.error = s.error;
    return jsonStringify(result);
  }

  // A terminal call ends the run; nothing after it executes. Policies that could
  // intercept an exception (their source mentions try/catch/finally, promises,
  // async code, generators or eval) get V8 termination, which cannot be caught and
  // skips finally blocks, as in jsPolicy: the result goes to the host first. All
  // other policies cannot catch anything, so an internal sentinel does the same
  // without the cost of terminating the isolate.
  const EXIT = freeze({ jspolicyExit: true });
  function terminate() {
    const s = current();
    s.closed = true;
    if (!s.terminates) {
      s.snapshot = serialiseResult(s); // code that runs while unwinding cannot change it
      throw EXIT;
    }
    hostText('exit', serialiseResult(s));
    for (;;) {
      // spins until V8's TerminateExecution lands
    }
  }
  const INTERCEPTS = /\b(try|catch|finally|Promise|async|await|eval|Function|yield|iterator)\b/;

  // ---- errors -------------------------------------------------------------------------
  const RUNTIME_URL = 'jspolicy-runtime';

  // Drops the runtime's own frames and shows policy frames as jsPolicy did
  // ("at <policy>:line:col"), with line-1 columns relative to the policy source.
  const BODY = '__jsp_policy_body';
  const BODY_FRAME = /^(\s*at )__jsp_policy_body \((.*)\)$/;
  const FIRST_LINE = /^(.*:)1:(\d+)(\)?)$/;
  let prefixLength = 0;
  function cleanStack(stack) {
    const lines = call(strSplit, stack, '\n');
    const kept = [];
    for (let i = 0; i < lines.length; i++) {
      let line = lines[i];
      if (call(strIndexOf, line, RUNTIME_URL) !== -1 || line === '    at eval (<anonymous>)') continue;
      line = call(strReplace, line, BODY_FRAME, '$1$2');
      if (i > 0) line = call(strReplace, line, FIRST_LINE, (m, head, col, close) => head + '1:' + (col - prefixLength) + close);
      call(arrPush, kept, line);
    }
    return call(arrJoin, kept, '\n');
  }

  // Same text jsPolicy (v8go) produced: "Uncaught " + stack when the thrown
  // value has a stack, otherwise String(value).
  function formatError(e) {
    try {
      if (e !== null && (typeof e === 'object' || typeof e === 'function')) {
        let stack;
        try {
          stack = e.stack;
        } catch (ignored) {
          stack = undefined;
        }
        if (typeof stack === 'string' && stack !== '') return truncate('Uncaught ' + cleanStack(stack), LIMITS.message);
      }
      return truncate(StringCtor(e), LIMITS.message);
    } catch (ignored) {
      return 'Uncaught exception (its message could not be read)';
    }
  }

  function statusError(reason, message) {
    return { reason, message, toString: () => reason + ': ' + message };
  }

  function hostCall(op, args) {
    current();
    const reply = host(op, args);
    if (reply !== undefined && reply !== null && reply.__throw !== undefined) {
      const t = reply.__throw;
      throw typeof t === 'string' ? t : statusError(t.reason, t.message);
    }
    return reply;
  }

  // ---- the jsPolicy API -------------------------------------------------------------
  const api = {
    exit() {
      terminate();
    },
    allow() {
      terminate();
    },
    deny(message, reason, code) {
      const r = current().response;
      r.deny = true;
      r.message = message;
      r.reason = reason;
      r.code = code;
      terminate();
    },
    warn(message) {
      const r = current().response;
      if (!ArrayIsArray(r.warnings)) r.warnings = [];
      call(arrPush, r.warnings, message);
    },
    mutate(object) {
      current().response.patched = object;
      terminate();
    },
    requeue(message) {
      const r = current().response;
      r.reschedule = true;
      r.message = message;
      terminate();
    },
    print(...args) {
      current();
      const parts = [];
      for (let i = 0; i < args.length; i++) {
        const value = args[i];
        if (typeof value === 'string') {
          call(arrPush, parts, value);
          continue;
        }
        try {
          const json = jsonStringify(value);
          call(arrPush, parts, json === undefined ? 'undefined' : json);
        } catch (e) {
          if (e === EXIT) throw e; // jsPolicy skipped values it could not stringify
        }
      }
      hostText('print', truncate(call(arrJoin, parts, ' '), LIMITS.printLine));
    },
    sleep(ms) {
      if (arguments.length !== 1 || typeof ms !== 'number') return undefined;
      hostCall('sleep', [ms]);
      return undefined;
    },
    env(name) {
      if (arguments.length !== 1 || typeof name !== 'string') return undefined;
      return hostCall('env', [name]);
    },
    readFileSync(path) {
      if (arguments.length !== 1 || typeof path !== 'string') return undefined;
      const content = hostCall('readFile', [path]);
      return content === null ? undefined : content;
    },
    atob(text) {
      if (arguments.length !== 1 || typeof text !== 'string') return undefined;
      return base64Decode(text);
    },
    btoa(text) {
      if (arguments.length !== 1 || typeof text !== 'string') return undefined;
      return base64Encode(text);
    },
    get(kind, apiVersion, name, options) {
      if (arguments.length < 3 || arguments.length > 4) {
        throw statusError('WrongArguments', 'three arguments expected. Example get("Pod", "v1", "test")');
      }
      if (typeof kind !== 'string' || typeof apiVersion !== 'string' || typeof name !== 'string') {
        throw statusError('WrongArguments', 'kind, group version and name need to be string values');
      }
      const cache = readOptions(options, 'cache');
      if (cache === 'smart') {
        const cached = hostCall('get', [kind, apiVersion, name, true]);
        if (cached !== undefined && cached !== null) return cached;
        const direct = hostCall('get', [kind, apiVersion, name, false]);
        return direct === null ? undefined : direct;
      }
      const found = hostCall('get', [kind, apiVersion, name, cache !== false]);
      return found === null ? undefined : found;
    },
    list(kind, apiVersion, options) {
      if (arguments.length < 2 || arguments.length > 3) {
        throw statusError('WrongArguments', 'three arguments expected. Example list("Pod", "v1")');
      }
      if (typeof kind !== 'string' || typeof apiVersion !== 'string') {
        throw statusError('WrongArguments', 'kind and group version need to be string values');
      }
      const opts = listOptions(options);
      return hostCall('list', [kind, apiVersion, opts]);
    },
    create(object) {
      return hostCall('create', [writeArgument(arguments, object)]);
    },
    update(object) {
      return hostCall('update', [writeArgument(arguments, object)]);
    },
    remove(object) {
      return hostCall('remove', [writeArgument(arguments, object)]);
    },
    fetchSync(url, options) {
      if (arguments.length === 0) throw 'fetchSync: no arguments provided';
      if (typeof url !== 'string') throw 'fetchSync: url is not a string';
      const reply = hostCall('fetch', [url, fetchOptions(options)]);
      const body = reply.body;
      return {
        status: reply.status,
        statusText: reply.statusText,
        headers: reply.headers,
        ok: reply.status >= 200 && reply.status < 300,
        text: () => body,
        json: () => jsonParse(body),
      };
    },
  };

  function isPlainObject(value) {
    return value !== null && typeof value === 'object' && !ArrayIsArray(value);
  }

  function readOptions(options, field) {
    if (options === undefined || options === null) return undefined;
    if (!isPlainObject(options)) {
      throw statusError('UnmarshalOptions', 'options need to be an object, got ' + typeof options);
    }
    const value = options[field];
    if (value === undefined || value === null || typeof value === 'boolean' || value === 'smart') return value;
    throw statusError('UnmarshalOptions', 'options.' + field + " must be true, false or 'smart'");
  }

  function listOptions(options) {
    if (options === undefined || options === null) return {};
    if (!isPlainObject(options)) {
      throw statusError('UnmarshalOptions', 'options need to be an object, got ' + typeof options);
    }
    const out = {};
    for (const field of ['namespace', 'labelSelector']) {
      const value = options[field];
      if (value === undefined || value === null) continue;
      if (typeof value !== 'string') throw statusError('UnmarshalOptions', 'options.' + field + ' must be a string');
      out[field] = value;
    }
    const cache = options.cache;
    if (cache !== undefined && cache !== null && typeof cache !== 'boolean') {
      throw statusError('UnmarshalOptions', 'options.cache must be true or false');
    }
    out.cache = cache !== false;
    return out;
  }

  function writeArgument(args, object) {
    if (args.length !== 1) throw statusError('WrongArguments', 'single argument expected');
    if (!isPlainObject(object)) {
      throw statusError('UnmarshalObject', 'expected a Kubernetes object, got ' + (object === null ? 'null' : ArrayIsArray(object) ? 'an array' : typeof object));
    }
    return object;
  }

  function fetchOptions(options) {
    if (options === undefined || options === null) return {};
    if (!isPlainObject(options)) throw 'fetchSync: error unmarshalling options: options need to be an object';
    const out = {};
    if (options.method !== undefined) {
      if (typeof options.method !== 'string') throw 'fetchSync: error unmarshalling options: method must be a string';
      out.method = options.method;
    }
    if (options.body !== undefined && options.body !== null) {
      if (typeof options.body !== 'string') throw 'fetchSync: error unmarshalling options: body must be a string';
      out.body = options.body;
    }
    if (options.headers !== undefined && options.headers !== null) {
      if (!isPlainObject(options.headers)) throw 'fetchSync: error unmarshalling options: headers must be an object';
      out.headers = {};
      for (const key of Object.keys(options.headers)) {
        const value = options.headers[key];
        if (typeof value !== 'string') throw 'fetchSync: error unmarshalling options: header ' + key + ' must be a string';
        out.headers[key] = value;
      }
    }
    if (options.insecure !== undefined) out.insecure = options.insecure === true;
    return out;
  }

  // ---- base64 over UTF-8 (Go's base64.StdEncoding semantics) --------------------------
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const B64_INDEX = new MapCtor();
  for (let i = 0; i < 64; i++) call(mapSet, B64_INDEX, B64[i], i);

  function utf8Bytes(text) {
    const bytes = [];
    for (let i = 0; i < text.length; i++) {
      let c = call(strCharCodeAt, text, i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
        const next = call(strCharCodeAt, text, i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
        }
      }
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate, as V8's UTF-8 writer
      if (c < 0x80) call(arrPush, bytes, c);
      else if (c < 0x800) call(arrPush, bytes, 0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) call(arrPush, bytes, 0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else call(arrPush, bytes, 0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return bytes;
  }

  function base64Encode(text) {
    const bytes = utf8Bytes(text);
    const out = [];
    for (let i = 0; i < bytes.length; i += 3) {
      const a = bytes[i], b = bytes[i + 1], c = bytes[i + 2];
      const n = (a << 16) | ((b === undefined ? 0 : b) << 8) | (c === undefined ? 0 : c);
      call(arrPush, out, B64[(n >> 18) & 63], B64[(n >> 12) & 63], b === undefined ? '=' : B64[(n >> 6) & 63], c === undefined ? '=' : B64[n & 63]);
    }
    return call(arrJoin, out, '');
  }

  function base64Decode(text) {
    const clean = call(strReplace, text, /[\r\n]/g, '');
    if (clean.length % 4 !== 0) return undefined;
    const bytes = [];
    for (let i = 0; i < clean.length; i += 4) {
      const last = i + 4 === clean.length;
      const quad = [];
      let padding = 0;
      for (let j = 0; j < 4; j++) {
        const ch = clean[i + j];
        if (ch === '=') {
          if (!last || j < 2) return undefined;
          padding++;
          call(arrPush, quad, 0);
          continue;
        }
        if (padding > 0) return undefined;
        const v = call(mapGet, B64_INDEX, ch);
        if (v === undefined) return undefined;
        call(arrPush, quad, v);
      }
      const n = (quad[0] << 18) | (quad[1] << 12) | (quad[2] << 6) | quad[3];
      call(arrPush, bytes, (n >> 16) & 255);
      if (padding < 2) call(arrPush, bytes, (n >> 8) & 255);
      if (padding < 1) call(arrPush, bytes, n & 255);
    }
    return utf8Decode(bytes);
  }

  // WHATWG UTF-8 decoding: each maximal invalid subpart becomes U+FFFD.
  function utf8Decode(bytes) {
    const out = [];
    let i = 0;
    while (i < bytes.length) {
      const b = bytes[i];
      let need = 0, cp = 0, lower = 0x80, upper = 0xbf;
      if (b < 0x80) { call(arrPush, out, b); i++; continue; }
      else if (b >= 0xc2 && b <= 0xdf) { need = 1; cp = b & 0x1f; }
      else if (b >= 0xe0 && b <= 0xef) { need = 2; cp = b & 0xf; if (b === 0xe0) lower = 0xa0; if (b === 0xed) upper = 0x9f; }
      else if (b >= 0xf0 && b <= 0xf4) { need = 3; cp = b & 0x7; if (b === 0xf0) lower = 0x90; if (b === 0xf4) upper = 0x8f; }
      else { call(arrPush, out, 0xfffd); i++; continue; }
      let j = 1;
      for (; j <= need; j++) {
        const c = bytes[i + j];
        if (c === undefined || c < lower || c > upper) break;
        lower = 0x80; upper = 0xbf;
        cp = (cp << 6) | (c & 0x3f);
      }
      if (j <= need) { call(arrPush, out, 0xfffd); i += j; continue; }
      if (cp >= 0x10000) {
        cp -= 0x10000;
        call(arrPush, out, 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
      } else {
        call(arrPush, out, cp);
      }
      i += need + 1;
    }
    let text = '';
    for (let k = 0; k < out.length; k += 8192) text += ReflectApply(fromCharCode, null, call(arrSlice, out, k, k + 8192));
    return text;
  }

  // ---- hardening ----------------------------------------------------------------------
  // Off-heap memory (not counted by the heap limit), cross-evaluation callbacks and
  // timers are removed from the policy's reach.
  for (const name of [
    'ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Atomics', 'WebAssembly',
    'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array',
    'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
    'FinalizationRegistry', 'WeakRef', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval',
    '__timer_manager', 'console',
  ]) {
    deleteProperty(g, name);
  }

  // Builtins that walk `length` in C++ without checking for termination: on a huge
  // sparse array they abort V8 ("invalid table size") or outlive the timeout.
  // The builtin reads `length` again after the guard, so the guard only accepts
  // lengths that cannot change in between: real arrays, and array-likes whose
  // `length` is a plain data property (no getters, no proxies).
  const MAX_LENGTH = LIMITS.arrayLength;
  const proxies = new WeakSetCtor();
  const weakSetAdd = WeakSet.prototype.add;
  const weakSetHas = WeakSet.prototype.has;
  function plainLength(target) {
    for (let o = target; o !== null && o !== undefined; o = getPrototypeOf(o)) {
      if (typeof o !== 'object' && typeof o !== 'function') return true; // primitives: fixed
      if (call(weakSetHas, proxies, o)) return false;
      const d = getOwnPropertyDescriptor(o, 'length');
      if (d !== undefined) return 'value' in d;
    }
    return true;
  }
  function checkLength(target, what) {
    if (target === null || target === undefined) return;
    if (!ArrayIsArray(target) || call(weakSetHas, proxies, target)) {
      if (!plainLength(target)) throw new TypeErrorCtor(what + ': jspolicy needs a plain length on array-likes');
    }
    const length = target.length;
    if (length > MAX_LENGTH) {
      throw new RangeErrorCtor(what + ' on ' + length + ' elements exceeds the jspolicy limit of ' + MAX_LENGTH);
    }
  }
  function guardMethods(proto, names, label) {
    for (const name of names) {
      const original = proto[name];
      if (typeof original !== 'function') continue;
      const wrapper = {
        [name]() {
          checkLength(this, label + '.' + name);
          return ReflectApply(original, this, arguments);
        },
      }[name];
      defineProperty(wrapper, 'length', { value: original.length });
      defineProperty(proto, name, { value: wrapper, writable: true, enumerable: false, configurable: true });
    }
  }
  guardMethods(Array.prototype, [
    'concat', 'copyWithin', 'every', 'fill', 'filter', 'find', 'findIndex', 'findLast', 'findLastIndex',
    'flat', 'flatMap', 'forEach', 'includes', 'indexOf', 'join', 'lastIndexOf', 'map', 'reduce',
    'reduceRight', 'reverse', 'slice', 'some', 'sort', 'splice', 'toLocaleString', 'toReversed',
    'toSorted', 'toSpliced', 'with', 'unshift', 'toString',
  ], 'Array.prototype');
  // Strings: results built in C++ without termination checks. Splitting or matching
  // can only abort V8 beyond ~134M result elements, so strings up to 64M characters
  // are fine; transformations allocate their full result at once, so they and the
  // padding/repeat constructors are bounded by what a policy could need.
  const MAX_STRING = LIMITS.stringLength;
  function guardString(names, measure) {
    for (const name of names) {
      const original = String.prototype[name];
      const wrapper = {
        [name]() {
          const size = measure(this, arguments);
          if (size > MAX_STRING) {
            throw new RangeErrorCtor('String.prototype.' + name + ' on ' + size + ' characters exceeds the jspolicy limit of ' + MAX_STRING);
          }
          return ReflectApply(original, this, arguments);
        },
      }[name];
      defineProperty(wrapper, 'length', { value: original.length });
      defineProperty(String.prototype, name, { value: wrapper, writable: true, enumerable: false, configurable: true });
    }
  }
  const ownLength = (self) => StringCtor(self).length;
  guardString(['split', 'match', 'matchAll', 'replace', 'replaceAll', 'normalize', 'toUpperCase', 'toLowerCase',
    'toLocaleUpperCase', 'toLocaleLowerCase', 'localeCompare'], ownLength);
  guardString(['repeat'], (self, args) => StringCtor(self).length * (+args[0] || 0));
  guardString(['padStart', 'padEnd'], (self, args) => +args[0] || 0);
  {
    const from = Array.from;
    const guardedFrom = {
      from(items) {
        if (items !== null && items !== undefined && (typeof items === 'object' || typeof items === 'function')) {
          checkLength(items, 'Array.from');
        }
        return ReflectApply(from, this, arguments);
      },
    }.from;
    defineProperty(guardedFrom, 'length', { value: from.length });
    defineProperty(Array, 'from', { value: guardedFrom, writable: true, enumerable: false, configurable: true });
  }

  // Non-enumerable globals escape the cheap change check, so the functions that can
  // create them flag the global object as touched.
  let globalTouched = false;
  function flagDefine(holder, name, targetIndex) {
    const original = holder[name];
    const wrapper = {
      [name]() {
        const target = arguments[targetIndex];
        if (target === g) globalTouched = true;
        try {
          return ReflectApply(original, this, arguments);
        } finally {
          if (target === g) globalTouched = true; // also if a descriptor getter ran in between
        }
      },
    }[name];
    defineProperty(wrapper, 'length', { value: original.length });
    defineProperty(holder, name, { value: wrapper, writable: true, enumerable: false, configurable: true });
  }
  flagDefine(Object, 'defineProperty', 0);
  flagDefine(Error, 'captureStackTrace', 0);
  {
    // A proxy of the global object defines properties past the wrappers above.
    const guardedProxy = function Proxy(target, handler) {
      if (new.target === undefined) throw new TypeErrorCtor("Constructor Proxy requires 'new'");
      if (target === g) globalTouched = true;
      const proxy = new ProxyCtor(target, handler);
      call(weakSetAdd, proxies, proxy);
      return proxy;
    };
    defineProperty(guardedProxy, 'length', { value: 2 });
    defineProperty(guardedProxy, 'revocable', {
      value: function revocable(target, handler) {
        if (target === g) globalTouched = true;
        const revocable = ProxyCtor.revocable(target, handler);
        call(weakSetAdd, proxies, revocable.proxy);
        return revocable;
      },
      writable: true,
      enumerable: false,
      configurable: true,
    });
    defineProperty(g, 'Proxy', { value: guardedProxy, writable: true, enumerable: false, configurable: true });
  }
  flagDefine(Object, 'defineProperties', 0);
  flagDefine(Reflect, 'defineProperty', 0);
  for (const name of ['__defineGetter__', '__defineSetter__']) {
    const original = Object.prototype[name];
    const wrapper = {
      [name]() {
        if (this === g) globalTouched = true;
        try {
          return ReflectApply(original, this, arguments);
        } finally {
          if (this === g) globalTouched = true;
        }
      },
    }[name];
    defineProperty(Object.prototype, name, { value: wrapper, writable: true, enumerable: false, configurable: true });
  }

  // "Override taming": once prototypes are frozen, `obj.name = x` would fail when
  // the prototype has a `name`; turn such properties into accessors whose setter
  // defines an own property instead (as Hardened JavaScript does).
  function tame(proto, names) {
    for (const name of names) {
      const desc = getOwnPropertyDescriptor(proto, name);
      if (desc === undefined || !('value' in desc)) continue;
      const value = desc.value;
      defineProperty(proto, name, {
        get() {
          return value;
        },
        set(v) {
          if (this === proto) throw new TypeErrorCtor('Cannot assign to read only property ' + StringCtor(name));
          defineProperty(this, name, { value: v, writable: true, enumerable: true, configurable: true });
        },
        enumerable: desc.enumerable,
        configurable: false,
      });
    }
  }
  tame(Object.prototype, ['constructor', 'toString', 'toLocaleString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable']);
  tame(Function.prototype, ['constructor', 'toString']);
  tame(Array.prototype, ['toString']);
  for (const E of [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError]) {
    tame(E.prototype, ['constructor', 'name', 'message', 'toString']);
  }

  // The API as locked globals; `console` maps to print().
  function lock(name, value) {
    defineProperty(g, name, { value, writable: false, enumerable: false, configurable: false });
  }
  for (const name of ownKeys(api)) lock(name, api[name]);
  const log = (...args) => ReflectApply(api.print, undefined, args);
  lock('console', { log, info: log, warn: log, error: log, debug: log });

  // Deep-freeze every intrinsic reachable from the global object (but not the
  // global object itself, so sloppy implicit globals keep working and are
  // deleted after the run).
  const seen = new SetCtor();
  function deepFreeze(o) {
    if (o === null || (typeof o !== 'object' && typeof o !== 'function') || call(setHas, seen, o)) return;
    call(setAdd, seen, o);
    freeze(o);
    for (const key of ownKeys(o)) {
      const d = getOwnPropertyDescriptor(o, key);
      if (d === undefined) continue;
      if ('value' in d) deepFreeze(d.value);
      else {
        deepFreeze(d.get);
        deepFreeze(d.set);
      }
    }
    deepFreeze(getPrototypeOf(o));
  }
  call(setAdd, seen, g);
  for (const key of ownKeys(g)) {
    const d = getOwnPropertyDescriptor(g, key);
    if ('value' in d) deepFreeze(d.value);
    else {
      deepFreeze(d.get);
      deepFreeze(d.set);
    }
  }
  deepFreeze(getPrototypeOf(g));
  // Hidden intrinsics only reachable through instances.
  for (const instance of [
    [][Symbol.iterator](), ''[Symbol.iterator](), new Map().entries(), new Set().values(),
    /x/[Symbol.matchAll](''), [].values().map((x) => x), Iterator.from({ next() { return { done: true }; } }),
    (function* () {})(), (async function* () {})(), (async function () {})(), new Intl.Segmenter().segment(''),
    new Intl.Segmenter().segment('')[Symbol.iterator](), (function () { return arguments; })(),
  ]) {
    deepFreeze(getPrototypeOf(instance));
  }
  for (const f of [function* () {}, async function () {}, async function* () {}, () => {}]) deepFreeze(getPrototypeOf(f));
  // Every global that exists now is part of the baseline: lock it.
  const baseline = new SetCtor();
  for (const key of ownKeys(g)) {
    call(setAdd, baseline, key);
    const d = getOwnPropertyDescriptor(g, key);
    if (d.configurable) {
      if ('value' in d) defineProperty(g, key, { value: d.value, writable: false, enumerable: d.enumerable, configurable: false });
      else defineProperty(g, key, { get: d.get, set: d.set, enumerable: d.enumerable, configurable: false });
    }
  }
  const globalProto = getPrototypeOf(g);
  const baseEnumerable = objectKeys(g).length;
  const baseSymbols = getOwnPropertySymbols(g).length;

  // Deletes what the previous run left on the global object; false when the
  // context can no longer be trusted (an undeletable global, a sealed global
  // object, a replaced prototype). Listing every global costs ~10 µs, so it
  // happens only when a cheap check sees a change: new enumerable or symbol
  // keys, or a defineProperty-style call on the global object.
  function cleanGlobals() {
    if (!isExtensible(g) || getPrototypeOf(g) !== globalProto) return false;
    if (!globalTouched && objectKeys(g).length === baseEnumerable && getOwnPropertySymbols(g).length === baseSymbols) {
      return true;
    }
    globalTouched = false;
    for (const key of ownKeys(g)) {
      if (!call(setHas, baseline, key) && !deleteProperty(g, key)) return false;
    }
    return true;
  }

  // ---- compiling and running policies ---------------------------------------------------
  const programs = new MapCtor();
  const GLOBAL_CONTEXT = config.globalContext;
  const PARAMS = 'request, exports, __policy, __response';

  function sourceName(name) {
    return call(strReplace, StringCtor(name), /[^A-Za-z0-9._:-]/g, '_');
  }

  // Each policy compiles once into a factory; every run calls it for a fresh policy
  // function, so top-level declarations (and anything stored on the function) start
  // anew, and line numbers match the source. GLOBAL_CONTEXT runs in the factory's
  // scope after the policy function is created and before it is called, so its
  // declarations are visible, see `request`, and are fresh on every run too.
  const PREFIX = '(function (' + PARAMS + ') { var __jsp_policy = function ' + BODY + ' () {';
  const SUFFIX = '\n};\n' + GLOBAL_CONTEXT + '\n;return __jsp_policy; })';
  prefixLength = PREFIX.length;

  // The body must parse on its own (Function() parses it in isolation), so a source
  // cannot close the wrapper and run code outside it.
  function compile(name, source) {
    if (GLOBAL_CONTEXT_ERROR !== null) throw GLOBAL_CONTEXT_ERROR;
    new FunctionCtor('request', 'exports', '__policy', '__response', source);
    const fn = indirectEval(PREFIX + source + SUFFIX + '\n//# sourceURL=' + sourceName(name));
    deepFreeze(fn); // the factory persists: nothing may be stored on it
    return fn;
  }
  let GLOBAL_CONTEXT_ERROR = null;
  try {
    new FunctionCtor(GLOBAL_CONTEXT);
  } catch (e) {
    GLOBAL_CONTEXT_ERROR = 'GLOBAL_CONTEXT is not valid JavaScript: ' + formatError(e);
  }

  let lastToken = 0;

  function enter(secret) {
    if (secret !== SECRET) throw new ErrorCtor('jspolicy: not allowed');
    const token = AtomicsLoad(header, 4);
    if (token === lastToken) throw new ErrorCtor('jspolicy: re-entrant evaluation');
    lastToken = token;
    AtomicsStore(header, 5, token); // "started"; sequentially consistent with the abort check
    return AtomicsLoad(header, 6) !== token;
  }

  const internal = {
    load(secret, id, name) {
      if (!enter(secret)) return '{"aborted":true}';
      if (!cleanGlobals()) return '{"recycle":true}';
      const source = readInput();
      let fn;
      try {
        fn = compile(name, source);
      } catch (e) {
        return jsonStringify({ error: formatError(e) });
      }
      if (typeof fn !== 'function') return jsonStringify({ error: 'the policy source is not a script body' });
      const terminates = call(regexTest, INTERCEPTS, source) || call(regexTest, INTERCEPTS, GLOBAL_CONTEXT);
      call(mapSet, programs, id, { name: StringCtor(name), fn, terminates });
      return '{}';
    },
    unload(secret, id) {
      if (secret !== SECRET) throw new ErrorCtor('jspolicy: not allowed');
      call(mapDelete, programs, id);
      return '{}';
    },
    run(secret, id) {
      if (!enter(secret)) return '{"aborted":true}';
      if (!cleanGlobals()) return '{"recycle":true}';
      const program = call(mapGet, programs, id);
      if (program === undefined) return '{"unknown":true}';
      call(regexExec, EMPTY_PATTERN, ''); // RegExp.$1, lastMatch, input: forget the last run's match
      const request = jsonParse(readInput());
      const response = {};
      const args = [request, {}, program.name, response];
      const s = { response, closed: false, error: undefined, terminates: program.terminates };
      state = s;
      try {
        ReflectApply(ReflectApply(program.fn, g, args), g, []);
      } catch (e) {
        s.closed = true;
        if (e !== EXIT) s.error = formatError(e);
      }
      s.closed = true;
      return s.snapshot !== undefined ? s.snapshot : serialiseResult(s);
    },
    globalsClean(secret) {
      if (secret !== SECRET) throw new ErrorCtor('jspolicy: not allowed');
      return cleanGlobals() && ownKeys(g).length === baseline.size;
    },
  };
  lock('__jsp', freeze(internal));
  call(setAdd, baseline, '__jsp');
  return baseline.size;
})
