// Passkeys (WebAuthn): registering one on the account page and signing in with one.
// Served by the service itself (no CDN). The options come from the server as JSON with base64url
// byte fields; this script turns them into ArrayBuffers for navigator.credentials and the answer back.
"use strict";

(function () {
  function toBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  }

  function toBase64Url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.detail || data.title || String(response.status));
        return data;
      });
    });
  }

  function show(status, text, failed) {
    if (!status) return;
    status.textContent = text;
    status.className = failed ? "alert" : "notice";
    status.hidden = false;
  }

  function credentialJson(credential) {
    var r = credential.response;
    var out = { id: credential.id, rawId: toBase64Url(credential.rawId), type: credential.type, response: {} };
    out.response.clientDataJSON = toBase64Url(r.clientDataJSON);
    if (r.attestationObject) {
      out.response.attestationObject = toBase64Url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    }
    if (r.authenticatorData) out.response.authenticatorData = toBase64Url(r.authenticatorData);
    if (r.signature) out.response.signature = toBase64Url(r.signature);
    if (r.userHandle) out.response.userHandle = toBase64Url(r.userHandle);
    out.clientExtensionResults = credential.getClientExtensionResults ? credential.getClientExtensionResults() : {};
    if (credential.authenticatorAttachment) out.authenticatorAttachment = credential.authenticatorAttachment;
    return out;
  }

  function register(button) {
    var csrf = button.getAttribute("data-csrf");
    var status = document.getElementById("passkey-status");
    var label = document.getElementById("passkey-label");
    post("/account/passkeys/options", csrf)
      .then(function (options) {
        options.challenge = toBytes(options.challenge);
        options.user.id = toBytes(options.user.id);
        (options.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
        return navigator.credentials.create({ publicKey: options });
      })
      .then(function (credential) {
        return post("/account/passkeys", csrf, { credential: credentialJson(credential), label: label ? label.value : "" });
      })
      .then(function () { window.location.assign("/account?done=passkey"); })
      .catch(function (error) { show(status, button.getAttribute("data-failed") + " " + error.message, true); });
  }

  function signIn(button) {
    var csrf = button.getAttribute("data-csrf");
    var status = document.getElementById("passkey-status");
    post("/signin/passkey/options", csrf)
      .then(function (options) {
        options.challenge = toBytes(options.challenge);
        (options.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
        return navigator.credentials.get({ publicKey: options });
      })
      .then(function (credential) { return post("/signin/passkey", csrf, { credential: credentialJson(credential), next: button.getAttribute("data-next") || "" }); })
      .then(function (answer) { window.location.assign(answer.location); })
      .catch(function (error) { show(status, button.getAttribute("data-failed") + " " + error.message, true); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var add = document.getElementById("passkey-add");
    var signin = document.getElementById("passkey-signin");
    var supported = !!(window.PublicKeyCredential && navigator.credentials);
    [add, signin].forEach(function (button) {
      if (!button) return;
      if (!supported) {
        show(document.getElementById("passkey-status"), button.getAttribute("data-unsupported"), true);
        button.disabled = true;
        return;
      }
      button.addEventListener("click", function () { (button === add ? register : signIn)(button); });
    });
  });
})();
