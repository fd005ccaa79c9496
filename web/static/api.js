// The control plane's JSON API as the page uses it (control/openapi.json is the contract).
// Every call sends the session token in the Authorization header, never in a URL, and only
// metadata: file bytes go to the storage node, never here.

/** An answer of the API that is not a success, or a failure to reach it. */
export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'APIError';
    this.status = status; // 0 when the server could not be reached
    this.code = code;     // the API's error code, e.g. quota_exceeded
  }
}

export class API {
  /**
   * @param {string} token a session token, or '' before signing in
   * @param {(e: APIError) => void} onUnauthenticated called when the token stops working
   */
  constructor(token, onUnauthenticated) {
    this.token = token;
    this.onUnauthenticated = onUnauthenticated;
  }

  async request(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (this.token) headers.Authorization = 'Bearer ' + this.token;
    const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch {
      throw new APIError(0, 'network', 'The server could not be reached. Check the connection and try again.');
    }
    if (resp.status === 204) return null;
    let data = null;
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
    if (!resp.ok) {
      const err = new APIError(resp.status, (data && data.error) || 'http_' + resp.status,
        (data && data.message) || `The server answered ${resp.status}.`);
      if (resp.status === 401 && this.token && err.code === 'unauthenticated' && this.onUnauthenticated) {
        this.onUnauthenticated(err);
      }
      throw err;
    }
    return data;
  }

  login(username, password) {
    return this.request('POST', '/v1/login', { username, password });
  }

  logout() {
    return this.request('POST', '/v1/logout');
  }

  me() {
    return this.request('GET', '/v1/me');
  }

  /** Asks for a ticket: a presigned PUT, or a multipart plan for big files. */
  ticket(file) {
    return this.request('POST', '/v1/uploads', {
      filename: file.name,
      size: file.size,
      content_type: file.type || 'application/octet-stream',
    });
  }

  upload(id) {
    return this.request('GET', `/v1/uploads/${encodeURIComponent(id)}`);
  }

  abort(id) {
    return this.request('DELETE', `/v1/uploads/${encodeURIComponent(id)}`);
  }

  /** Part URLs, signed now: asked for just before each part is sent. */
  signParts(id, numbers) {
    return this.request('POST', `/v1/uploads/${encodeURIComponent(id)}/parts`, { part_numbers: numbers });
  }

  /** The parts the store already holds, each received whole: a resume sends only the others. */
  storedParts(id) {
    return this.request('GET', `/v1/uploads/${encodeURIComponent(id)}/parts`);
  }

  /** Completes an upload; parts may be omitted to use those the store holds. */
  complete(id, parts) {
    return this.request('POST', `/v1/uploads/${encodeURIComponent(id)}/complete`, parts ? { parts } : undefined);
  }

  files(after, limit) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (after) q.set('after', after);
    return this.request('GET', `/v1/files?${q}`);
  }

  /** A presigned GET of the file ({url, expires_at}), asked for as JSON rather than a redirect. */
  download(id) {
    return this.request('GET', `/v1/files/${encodeURIComponent(id)}/download`);
  }

  deleteFile(id) {
    return this.request('DELETE', `/v1/files/${encodeURIComponent(id)}`);
  }
}
