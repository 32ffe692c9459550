// The client example (docs/client-example.md): what a web app does with the gateway from the
// browser. It connects an account through the API, and reads the synced data straight from
// Firestore with the Firebase JS SDK, live, under the security rules (infra/firestore.rules): a
// signed-in user's own users/{uid}/... collections, read-only.
import {
  collection,
  limit,
  onSnapshot,
  orderBy,
  query,
} from "https://www.gstatic.com/firebasejs/12.9.0/firebase-firestore.js";

/** Connect `service` (slack, gmail or calendar): `start` answers the provider's consent page and
 * sets the state cookie the callback requires (hence credentials), then the browser goes there;
 * the callback sends it back to `returnTo` (which must be on OAUTH_RETURN_ALLOWLIST). */
export async function connect(apiBase, idToken, service, returnTo) {
  const url = new URL(`${apiBase}/api/v1/oauth/${service}/start`);
  if (returnTo) url.searchParams.set("returnTo", returnTo);
  const reply = await fetch(url, { headers: { Authorization: `Bearer ${idToken}` }, credentials: "include" });
  const body = await reply.json();
  if (!body.success) throw new Error(`${body.error.message} (${body.error.code})`);
  location.assign(body.data.authUrl);
}

/** A live list of the user's `count` newest documents of one synced collection (action_items,
 * mail, calendar_events, slack_activity), newest `field` first: `onRows` gets the whole list again
 * whenever the backend writes. Returns the function that stops the listener. */
export function listenNewest(db, uid, name, field, onRows, onError, count = 20) {
  const newest = query(collection(db, "users", uid, name), orderBy(field, "desc"), limit(count));
  return onSnapshot(newest, (snapshot) => onRows(snapshot.docs.map((doc) => ({ id: doc.id, ...doc.data() }))), onError);
}

/** Live lists of the user's 20 newest action items and mails. Returns a function that stops both. */
export function listen(db, uid, { onActionItems, onMail, onError }) {
  const stops = [
    listenNewest(db, uid, "action_items", "createdAt", onActionItems, onError),
    listenNewest(db, uid, "mail", "internalDate", onMail, onError),
  ];
  return () => stops.forEach((stop) => stop());
}
