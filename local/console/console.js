"use strict";
// The dev console: signs in through the sandbox's ID-token issuer, then uses only what an app has:
// the public API (/api/v1/...) with that token, and the synced documents read live from Firestore
// through the client example's code path (docs/client-example.js) under the security rules. Event
// buttons call the sandbox's control endpoints, which make "Slack" and "Google" send their webhooks
// and notifications to the gateway.

const POLL_MS = 2000; // connections (no frontend may read them from Firestore) and the webhook list
// The Firebase SDK's CDN modules, which the page's import map points at the dev host's copies.
const FIREBASE = "https://www.gstatic.com/firebasejs/12.9.0/";

// What connecting each service sets in motion, shown on its card before anything is connected. The
// cards themselves are the catalogue's services this deployment offers (GET /api/v1/oauth/connections
// `services`); one without words here gets the generic ones.
const ABOUT = {
  slack:
    "Connecting gives the gateway a Slack user token. The workspace's messages then reach the gateway " +
    "as signed events; each is recorded as Slack activity, and one with \"TODO: ...\" (or \"TODO - ...\") becomes an action item.",
  gmail:
    "Connecting starts a Gmail watch: Gmail announces new INBOX mail on Pub/Sub, and the gateway's " +
    "background sync copies it into Mail below.",
  calendar:
    "Connecting opens a Calendar notification channel: Google pushes each change to the gateway, and " +
    "its background sync copies the events into Calendar below.",
};
const SYNCED = ["gmail", "calendar"]; // the services whose data background sync copies

function aboutOf(service) {
  return (
    ABOUT[service.id] ??
    `Connecting stores ${service.name}'s tokens, encrypted, and keeps them fresh; the app then calls its API ` +
      `through the gateway (GET /api/v1/proxy/${service.id}/...). It sends no webhooks yet.`
  );
}

const STATUS_WORDS = {
  connected: "Connected",
  needs_reauth: "Needs re-auth",
  degraded: "Degraded",
  disconnected: "Disconnected",
};

// A status that asks something of the user, in words next to its code.
const STATUS_EXPLAINED = {
  needs_reauth: "the provider no longer accepts this connection's tokens (access revoked or refresh refused); reconnect",
  degraded: "calls with this connection's tokens keep failing (the provider is down or refusing them); the gateway keeps trying",
};

// Why a connection needs re-auth or last failed (its `reason`), in words next to its code.
const CONNECTION_REASONS = {
  invalid_grant: "Google refused the refresh token (revoked, expired or replaced)",
  invalid_refresh_token: "Slack refused the refresh token (revoked or expired)",
  token_revoked: "access was revoked at the provider",
  token_expired: "the provider says the token expired and cannot be refreshed",
  grant_revoked: "the Google grant this connection shared with the other Google service was revoked",
};

// The OAuth callback sends the browser back with ?service=&reason=; these are its reasons in words.
const REASONS = {
  access_denied: "you (or the provider) denied access on the consent page",
  provider_error: "the provider reported an error on its consent page",
  invalid_state: "the sign-in attempt was not recognised (started in another browser, or already used)",
  expired_state: "the sign-in attempt took too long and expired",
  invalid_request: "the provider sent no authorization code",
  exchange_failed: "the provider refused to exchange the authorization code for tokens",
  insufficient_scope: "fewer permissions were granted than the gateway needs",
  account_in_use: "that account is already connected by another user; pick another on the consent page",
  too_many_connections: "this user holds the most accounts of this service a user may (10); disconnect one first",
  user_erased: "this user was erased while the connection was being made",
  server_error: "the gateway failed unexpectedly",
};

// What each card's event button asks the sandbox to do, as the real provider would.
const TRIGGERS = {
  slack: {
    label: "Message",
    value: "TODO: review the launch checklist by Friday",
    button: "Send Slack message",
    send: (connection, text) =>
      sandbox("/_sandbox/slack/message", { teamId: connection.account.teamId, userId: connection.account.userId, text }),
    said: (reply) => `Slack sent event ${reply.eventId}; the gateway answered HTTP ${reply.status}.`,
  },
  gmail: {
    label: "Subject",
    value: "Quarterly report",
    button: "Deliver new mail",
    send: (connection, subject) =>
      sandbox("/_sandbox/gmail/deliver", {
        email: connection.account.email,
        subject,
        from: "colleague@example.com",
        snippet: "Sent from the dev console",
      }),
    said: (reply) =>
      reply.notified
        ? `Mail ${reply.id} delivered; Gmail published history ${reply.historyId} to the notifications topic.`
        : `Mail ${reply.id} delivered, but the mailbox has no watch, so Gmail sent no notification.`,
  },
  calendar: {
    label: "Event",
    value: "Design review",
    button: "Change calendar",
    send: (connection, summary) =>
      sandbox("/_sandbox/calendar/change", { email: connection.account.email, action: "create", summary }),
    said: (reply) =>
      reply.notified
        ? `Event ${reply.eventId} created; Google notified ${reply.notified} channel(s).`
        : `Event ${reply.eventId} created, but no channel watches this calendar, so Google sent no notification.`,
  },
};

const session = {
  config: null,
  uid: null,
  token: null,
  timer: null,
  stopFeeds: null,
  autoSync: null,
  accounts: null,
  services: [],
  connections: {},
  others: {}, // a service's further connections (the card shows the first)
  shown: {},
};

// Shown as "message (code)": the API envelope's words first, its stable code after.
class CodedError extends Error {
  constructor(code, message) {
    super(`${message} (${code})`);
    this.code = code;
  }
}

// ---- talking to the API and the sandbox ----

async function signIn(uid) {
  const reply = await fetch(`${session.config.sandboxUrl}/identity/token?uid=${encodeURIComponent(uid)}`);
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok || !body.idToken) {
    throw new CodedError("sign_in_failed", `The sandbox issued no ID token: ${body.error?.message ?? reply.statusText}`);
  }
  session.uid = uid;
  session.token = body.idToken;
  sessionStorage.setItem("uid", uid);
}

// Every API reply is the envelope {success, data} or {success: false, error: {code, message}}.
async function api(path, options = {}, retried = false) {
  const reply = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${session.token}` },
    credentials: "include", // oauth start sets the state cookie that the callback requires
  });
  const body = await reply.json().catch(() => null);
  if (body?.success) return body.data;
  const error = body?.error ?? { code: `http_${reply.status}`, message: "The API answered without its envelope" };
  if (error.code === "token_expired" && !retried) {
    await signIn(session.uid); // sandbox tokens last an hour: take a new one and try once more
    return api(path, options, true);
  }
  throw new CodedError(error.code, error.message);
}

// The sandbox accounts this uid meets on the consent pages (local/sandbox/accounts.py).
async function sandboxAccounts(uid) {
  const reply = await fetch(`${session.config.sandboxUrl}/_sandbox/accounts?uid=${encodeURIComponent(uid)}`);
  if (!reply.ok) throw new CodedError(`sandbox_${reply.status}`, "The sandbox named no accounts for this uid");
  return reply.json();
}

async function sandbox(path, body) {
  const reply = await fetch(session.config.sandboxUrl + path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new CodedError(`sandbox_${reply.status}`, `The sandbox refused: ${data.error ?? reply.statusText}`);
  return data;
}

// ---- what the page shows ----

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function notify(text, kind = "ok") {
  const notice = document.getElementById("notice");
  notice.textContent = text;
  notice.className = kind;
  notice.setAttribute("role", kind === "error" ? "alert" : "status");
  notice.hidden = false;
}

function statusOf(connection) {
  if (!connection) return "disconnected";
  if (connection.status === "needs_reauth") return "needs_reauth";
  if (connection.health === "degraded") return "degraded"; // a missing health field means healthy
  return "connected";
}

function accountText(account) {
  if (!account) return "none";
  if (account.email) return account.email;
  return `${account.teamName ?? account.teamId} (${account.teamId}), user ${account.userId}`;
}

// Google scopes are URLs: show their last part, the whole scope on hover.
function scopeBadge(scope) {
  return el("code", { title: scope }, scope.replace("https://www.googleapis.com/auth/", ""));
}

function offeredAccount(service) {
  const accounts = session.accounts;
  if (!accounts) return "";
  return service.id === "slack"
    ? `${accounts.slack.teamName} (${accounts.slack.teamId}), user ${accounts.slack.userId}`
    : accounts.google.email;
}

function aboutText(service, connection) {
  const offered = !connection && session.accounts;
  const about = aboutOf(service);
  return offered ? `${about} The consent page offers this uid's own sandbox account: ${offeredAccount(service)}.` : about;
}

// Gmail and Calendar only sync where the flag is on: said on the card before connecting, not after.
function syncText(service) {
  if (!SYNCED.includes(service.id) || session.autoSync === null) return null;
  return session.autoSync
    ? "Background sync (flag integration_auto_sync) is on for this uid."
    : "Background sync is off for this uid (flag integration_auto_sync): nothing will be synced. Sign in as a " +
        "uid it is on for (make dev turns it on for alice and bob), or add an override for this uid in " +
        "feature_flags/integration_auto_sync.";
}

// A code the API sent, shown as "words (code)".
function inWords(words, code) {
  return words[code] ? `${words[code]} (${code})` : code;
}

function expiryText(connection) {
  if (!connection?.expiresAt) return connection ? "never" : "-";
  const when = new Date(connection.expiresAt).toLocaleString();
  return connection.isExpired ? `${when} (expired: refreshed on next use)` : when;
}

function buildCards(offered) {
  const template = document.getElementById("card-template");
  const cards = document.getElementById("cards");
  session.services = offered.map((s) => ({ id: s.service, name: s.displayName, icon: s.icon, enabled: s.enabled }));
  cards.replaceChildren();
  for (const service of session.services) {
    const card = template.content.firstElementChild.cloneNode(true);
    const trigger = TRIGGERS[service.id];
    card.dataset.service = service.id;
    card.setAttribute("aria-label", service.name);
    card.querySelector(".name").textContent = `${service.icon} ${service.name}`;
    card.querySelector(".trigger").hidden = !trigger; // the sandbox sends events for these services only
    if (trigger) {
      card.querySelector(".trigger-label").textContent = trigger.label;
      card.querySelector(".trigger-input").value = trigger.value;
      card.querySelector(".trigger-button").textContent = trigger.button;
    }
    card.querySelector(".connect").addEventListener("click", () => run(() => connect(service)));
    card.querySelector(".disconnect").addEventListener("click", () => run(() => disconnect(service, session.connections[service.id])));
    card.querySelector(".add-account").addEventListener("click", () => run(() => connect(service, { another: true })));
    card.querySelector(".trigger").addEventListener("submit", (event) => {
      event.preventDefault();
      run(() => fire(service, card.querySelector(".trigger-input").value));
    });
    cards.append(card);
  }
}

function renderCard(service) {
  const card = document.querySelector(`[data-service="${service.id}"]`);
  const connection = session.connections[service.id];
  const status = statusOf(connection);
  const badge = card.querySelector(".status");
  badge.textContent = STATUS_WORDS[status];
  badge.className = `status ${status}`;
  card.querySelector(".account").textContent = accountText(connection?.account);
  card.querySelector(".scopes").replaceChildren(...(connection?.scopes ?? []).map(scopeBadge));
  card.querySelector(".expiry").textContent = expiryText(connection);
  badge.title = STATUS_EXPLAINED[status] ?? "";
  card.querySelector(".about").textContent = aboutText(service, connection);
  const sync = card.querySelector(".sync");
  sync.textContent = syncText(service) ?? "";
  sync.hidden = !sync.textContent;
  sync.classList.toggle("off", session.autoSync === false);
  const detail = card.querySelector(".detail");
  const notes = [];
  if (STATUS_EXPLAINED[status]) notes.push(`${STATUS_WORDS[status]}: ${inWords(STATUS_EXPLAINED, status)}.`);
  if (connection?.reason) notes.push(`Reason: ${inWords(CONNECTION_REASONS, connection.reason)}.`);
  if (status === "degraded") notes.push(`${connection.consecutiveFailures ?? "Several"} refreshes failed in a row.`);
  if (!service.enabled) notes.push(`Off for this uid: ${service.name}'s feature flag is off, so connecting answers feature_disabled.`);
  detail.textContent = notes.join(" ");
  detail.hidden = notes.length === 0;
  const connectButton = card.querySelector(".connect");
  connectButton.textContent = status === "disconnected" ? "Connect" : "Reconnect";
  connectButton.hidden = status === "connected";
  connectButton.disabled = !service.enabled;
  if (service.enabled) connectButton.removeAttribute("title");
  else connectButton.title = `Off for this uid: ${service.name}'s feature flag is off.`;
  card.querySelector(".disconnect").hidden = status === "disconnected";
  card.querySelector(".add-account").hidden = status === "disconnected" || !service.enabled;
  renderOthers(card, service);
  if (!TRIGGERS[service.id]) return; // no event button on this card
  const trigger = card.querySelector(".trigger-button");
  trigger.disabled = !connection || status === "needs_reauth";
  if (!connection) trigger.title = `Connect ${service.name} first: the sandbox sends events only for a connected account.`;
  else if (status === "needs_reauth") trigger.title = `Reconnect ${service.name} first: the gateway holds no working token for it.`;
  else trigger.removeAttribute("title");
}

// The user's further accounts of the service (each its own connection), each with its own Disconnect.
function renderOthers(card, service) {
  const others = session.others[service.id] ?? [];
  const rows = others.map((other) => {
    const button = el("button", { type: "button", class: "disconnect-other" }, "Disconnect");
    button.setAttribute("aria-label", `Disconnect ${accountText(other.account)}`);
    button.addEventListener("click", () => run(() => disconnect(service, other)));
    return el("div", { class: "other" }, `${accountText(other.account)} (${STATUS_WORDS[statusOf(other)]}) `, button);
  });
  card.querySelector(".others").replaceChildren(...rows);
  card.querySelector(".others").hidden = card.querySelector(".others-label").hidden = others.length === 0;
}

// A Firestore Timestamp (from the SDK), an ISO string or milliseconds, in the browser's time.
function localTime(value) {
  if (!value) return "";
  return (value.toDate ? value.toDate() : new Date(value)).toLocaleString();
}

// The user's synced collections: the field their newest come first by, and how to show each.
const FEEDS = {
  action_items: {
    order: "createdAt",
    show: (doc) => [
      el("strong", {}, doc.text),
      ` due ${doc.dueDate ?? "-"}, assignee ${doc.assignee ?? "-"}, from ${doc.author ?? "-"}`,
    ],
  },
  slack_activity: {
    order: "recordedAt",
    show: (doc) => [
      el("strong", {}, doc.type ?? "event"),
      ` ${doc.channel ?? ""} ${doc.user ?? ""}: ${doc.text ?? ""} `,
      el("small", {}, localTime(doc.recordedAt)),
    ],
  },
  mail: {
    order: "internalDate",
    show: (doc) => [
      el("strong", {}, doc.subject ?? "(no subject)"),
      ` from ${doc.from ?? "?"}: ${doc.snippet ?? ""} `,
      el("small", {}, doc.date ?? ""),
    ],
  },
  calendar_events: {
    order: "updated",
    show: (doc) => [
      el("strong", {}, doc.summary ?? "(no title)"),
      ` ${doc.status} `,
      el("small", {}, `starts ${localTime(doc.start?.dateTime ?? doc.start?.date)}`),
    ],
  },
};

const FEED_SIZE = 20;

function renderFeed(name, docs) {
  const items = docs.map((doc) => el("li", {}, ...FEEDS[name].show(doc)));
  document.getElementById(name).replaceChildren(...(items.length ? items : [el("li", { class: "empty" }, "nothing yet")]));
  const count = docs.length === FEED_SIZE ? `(${FEED_SIZE} newest)` : `(${docs.length})`;
  document.getElementById(`${name}-count`).textContent = docs.length ? count : "";
}

// One listener per synced collection, as an app's frontend would open them: the Firestore emulator
// takes the sandbox's ID token as the user's (deployed, Firebase Auth gives the SDK its token), and
// the rules let this uid read its own collections only. Returns the function that stops them all.
async function listenFeeds() {
  const [{ initializeApp, deleteApp }, { connectFirestoreEmulator, getFirestore }, { listenNewest }] = await Promise.all([
    import(`${FIREBASE}firebase-app.js`),
    import(`${FIREBASE}firebase-firestore.js`),
    import("/docs/client-example.js"),
  ]);
  const dev = await (await fetch("/docs/client-example.json")).json(); // make dev's project and emulator
  const app = initializeApp({ projectId: dev.projectId, apiKey: "make-dev" }, `console-${session.uid}-${Date.now()}`);
  const db = getFirestore(app);
  const [host, port] = dev.firestoreEmulatorHost.split(":");
  connectFirestoreEmulator(db, host, Number(port), { mockUserToken: session.token });
  const failed = (error) => notify(`Reading synced data from Firestore failed: ${error.message} (${error.code})`, "error");
  const stops = Object.entries(FEEDS).map(([name, feed]) =>
    listenNewest(db, session.uid, name, feed.order, (docs) => renderFeed(name, docs), failed, FEED_SIZE),
  );
  return () => {
    stops.forEach((stop) => stop());
    deleteApp(app);
  };
}

// ---- actions ----

async function run(action) {
  try {
    await action();
  } catch (error) {
    notify(error.message, "error");
  }
}

async function refresh() {
  const listed = await api("/api/v1/oauth/connections");
  const offered = JSON.stringify(listed.services);
  if (session.shown.services !== offered) {
    buildCards(listed.services); // the catalogue's services, or a flag changed for this uid
    session.shown.services = offered;
  }
  // A card shows the connection named after its service (the first one made), or the first listed;
  // the user's further accounts of the service are listed under it.
  const byService = Object.groupBy(listed.connections, (c) => c.service);
  session.connections = {};
  session.others = {};
  for (const [service, held] of Object.entries(byService)) {
    const main = held.find((c) => c.connectionId === service) ?? held[0];
    session.connections[service] = main;
    session.others[service] = held.filter((c) => c !== main);
  }
  session.services.forEach(renderCard);
}

function poll() {
  clearTimeout(session.timer);
  session.timer = setTimeout(async () => {
    await run(refresh);
    if (session.token) poll();
  }, POLL_MS);
}

async function enter(uid) {
  await signIn(uid);
  const me = await api("/api/v1/me");
  const flags = await api("/api/v1/flags");
  session.autoSync = flags.flags.integration_auto_sync;
  session.accounts = await sandboxAccounts(me.uid);
  document.getElementById("who").textContent = `Signed in as ${me.uid} (${me.signInProvider ?? "sandbox"} token)`;
  document.getElementById("sign-in-form").hidden = true;
  document.getElementById("signed-in").hidden = false;
  document.getElementById("workspace").hidden = false;
  document.getElementById("landing").hidden = true;
  await refresh();
  poll();
  session.stopFeeds = await listenFeeds();
}

function leave() {
  clearTimeout(session.timer);
  session.stopFeeds?.();
  for (const name of Object.keys(FEEDS)) {
    document.getElementById(name).replaceChildren();
    document.getElementById(`${name}-count`).textContent = "";
  }
  Object.assign(session, {
    uid: null,
    token: null,
    stopFeeds: null,
    autoSync: null,
    accounts: null,
    services: [],
    connections: {},
    others: {},
    shown: {},
  });
  document.getElementById("cards").replaceChildren();
  sessionStorage.removeItem("uid");
  document.getElementById("sign-in-form").hidden = false;
  document.getElementById("signed-in").hidden = true;
  document.getElementById("workspace").hidden = true;
  document.getElementById("landing").hidden = false;
  document.getElementById("notice").hidden = true;
}

// Google and Microsoft are told which account to preselect (loginHint, sent as their login_hint);
// the gateway drops it for a provider with no such parameter, so the console also adds the sandbox's
// own sandbox_uid to the consent URL. Another account: nothing is preselected, the consent page
// takes whichever account is typed there (a new one becomes a connection of its own).
async function connect(service, { another = false } = {}) {
  const params = new URLSearchParams({ returnTo: session.config.consoleUrl });
  if (service.id !== "slack" && !another) params.set("loginHint", session.accounts.google.email);
  const started = await api(`/api/v1/oauth/${service.id}/start?${params}`);
  const consent = new URL(started.authUrl);
  if (!another && (!params.has("loginHint") || !consent.searchParams.has("login_hint"))) {
    consent.searchParams.set("sandbox_uid", session.uid);
  }
  location.assign(consent.href); // the provider's consent page; the callback brings the browser back here
}

async function disconnect(service, connection) {
  const which = connection ? `?connectionId=${encodeURIComponent(connection.connectionId)}` : "";
  const done = await api(`/api/v1/oauth/${service.id}/disconnect${which}`, { method: "DELETE" });
  const revoked =
    done.revokeNote ??
    {
      true: "the grant was revoked at the provider",
      false: "the provider did not confirm the revocation",
      null: "the Google grant is kept for the other Google service",
    }[String(done.revoked)];
  notify(done.wasConnected ? `${service.name} disconnected; ${revoked}.` : `${service.name} was not connected.`);
  await refresh();
}

async function fire(service, text) {
  const reply = await TRIGGERS[service.id].send(session.connections[service.id], text);
  // The Slack trigger reports the gateway's answer to the event it sent: anything but a 2xx is an error.
  const refused = reply.status !== undefined && (reply.status < 200 || reply.status >= 300);
  notify(TRIGGERS[service.id].said(reply), refused ? "error" : "ok");
}

// The callback lands here with ?service=slack (connected) or ?service=slack&reason=access_denied.
function reportOAuthReturn() {
  const params = new URLSearchParams(location.search);
  const id = params.get("service");
  if (!id) return;
  const service = session.services.find((s) => s.id === id) ?? { id, name: id };
  const reason = params.get("reason");
  if (reason) notify(`Connecting ${service.name} failed: ${REASONS[reason] ?? "unknown reason"} (${reason}).`, "error");
  else notify(`${service.name} connected.`);
  history.replaceState(null, "", location.pathname);
}

async function start() {
  session.config = await (await fetch("/console/config.json")).json();
  if (session.config.consoleUrl !== `${location.origin}/`) {
    const warning = document.getElementById("origin-warning");
    warning.replaceChildren(
      "OAuth returns to ",
      el("a", { href: session.config.consoleUrl }, session.config.consoleUrl),
      " and the state cookie lives on that host: open the console there to connect accounts.",
    );
    warning.hidden = false;
  }
  document.getElementById("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(() => enter(document.getElementById("uid").value.trim()));
  });
  document.getElementById("sign-out").addEventListener("click", leave);
  const uid = sessionStorage.getItem("uid"); // kept across the OAuth round trip in this tab
  if (uid) await run(() => enter(uid));
  reportOAuthReturn(); // after the cards are built, so the notice names the service

}

start();

// ---- webhooks delivered to the app: the sandbox's receiver, polled on its own ----

async function showWebhooks() {
  if (!session.uid) return;
  const reply = await fetch(`${session.config.sandboxUrl}/_sandbox/app-webhooks?uid=${encodeURIComponent(session.uid)}`);
  const deliveries = reply.ok ? await reply.json() : [];
  const key = `${deliveries.length}:${deliveries.at(-1)?.receivedAt}`;
  if (session.shown.appWebhooks === key) return; // nothing new since the last poll
  session.shown.appWebhooks = key;
  const items = deliveries
    .slice(-20)
    .reverse()
    .map((delivery) =>
      el(
        "li",
        { title: `webhook-id ${delivery.webhookId}` },
        el("strong", {}, delivery.body?.type ?? "(not JSON)"),
        ` ${delivery.verified ? "signature verified" : `NOT verified: ${delivery.error}`}, answered ${delivery.answered} `,
        el("small", {}, localTime(delivery.receivedAt * 1000)),
      ),
    );
  document.getElementById("app-webhooks").replaceChildren(...(items.length ? items : [el("li", { class: "empty" }, "nothing yet")]));
  document.getElementById("app-webhooks-count").textContent = deliveries.length ? `(${deliveries.length})` : "";
}

setInterval(() => showWebhooks().catch(() => {}), POLL_MS); // the sandbox down: the rest of the page says so
