// The REST API of the service (docs/api.md), called with the login cookie and the CSRF token.

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class SessionsApi {
  constructor(base) {
    this.base = base.replace(/\/$/, "");
  }

  async request(method, path, body, { keepalive = false } = {}) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        keepalive,
      });
    } catch (failure) {
      throw new ApiError(0, "network", failure.message);
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = data.error || {};
      throw new ApiError(response.status, error.code || "http_" + response.status, error.message || response.statusText);
    }
    return data;
  }

  create(options) {
    return this.request("POST", "", options);
  }

  /** `keepalive`: the request outlives the page (ending a session as the student leaves). */
  end(id, { keepalive = false } = {}) {
    return this.request("DELETE", `/${id}`, undefined, { keepalive });
  }

  stats(id) {
    return this.request("GET", `/${id}/stats`);
  }

  /** Every entry of the session's transcript, in order (all pages). */
  async entries(id) {
    const results = [];
    for (let page = 1; ; page += 1) {
      const data = await this.request("GET", `/${id}/entries?page_size=200&page=${page}`);
      results.push(...data.results);
      if (page >= data.pages) return results;
    }
  }
}
