"use strict";
// The proxy box: one provider read through /api/v1/proxy/{service}/{path} with the signed-in user's
// ID token, its status and body shown as the provider sent them (docs/proxy.md). Self-contained: it
// reads only `session` and `signIn` from console.js.

const PROXY_CALLS = {
  slack: { label: "Slack conversations.list", path: "conversations.list" },
  gmail: { label: "Gmail labels", path: "gmail/v1/users/me/labels" },
  calendar: { label: "Calendar calendarList", path: "users/me/calendarList" },
};

async function proxyCall(service, retried = false) {
  const reply = await fetch(`/api/v1/proxy/${service}/${PROXY_CALLS[service].path}`, {
    headers: { Authorization: `Bearer ${session.token}` },
  });
  const text = await reply.text();
  if (reply.status === 401 && !retried && text.includes('"token_expired"')) {
    await signIn(session.uid); // the console's ID token, not the provider's: take a new one once
    return proxyCall(service, true);
  }
  return { status: reply.status, text };
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function startProxyBox() {
  const form = document.getElementById("proxy-form");
  const choice = document.getElementById("proxy-call");
  for (const [service, call] of Object.entries(PROXY_CALLS)) {
    choice.append(new Option(`${call.label}  (GET /api/v1/proxy/${service}/${call.path})`, service));
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = document.getElementById("proxy-status");
    const body = document.getElementById("proxy-body");
    status.textContent = "Calling…";
    status.className = "proxy-status";
    try {
      const reply = await proxyCall(choice.value);
      status.textContent = `HTTP ${reply.status}`;
      status.classList.add(reply.status >= 200 && reply.status < 300 ? "ok" : "error");
      body.textContent = pretty(reply.text);
    } catch (error) {
      status.textContent = "The call failed";
      status.classList.add("error");
      body.textContent = String(error);
    }
  });
}

startProxyBox();
