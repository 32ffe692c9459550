// The Firestore security rules (infra/firestore.rules) against the emulator's rules engine, through
// the real Firebase JS client SDK as a signed-in user, another user and nobody. The emulator runs
// with those rules (local/emulators.py starts it with --rules); driven by tests/rules/test_firestore_rules.py.
import { after, before, beforeEach, describe, test } from "node:test";
import { assertFails, assertSucceeds, initializeTestEnvironment } from "@firebase/rules-unit-testing";
import { collection, collectionGroup, doc, getDoc, getDocs, setDoc, deleteDoc, onSnapshot } from "firebase/firestore";

const [host, port] = process.env.FIRESTORE_EMULATOR_HOST.split(":");
const SYNCED = ["action_items", "mail", "calendar_events", "slack_activity"];
const HIDDEN = ["connections/gmail", "sync_state/gmail", "experiment_assignments/onboarding"];
const TOP_LEVEL = ["account_index/gmail:alice%40example.com", "oauth_states/abc", "token_leases/gmail:alice", "audit_log/1"];

let env;

before(async () => {
  env = await initializeTestEnvironment({ projectId: process.env.RULES_PROJECT, firestore: { host, port: Number(port) } });
});
after(async () => env?.cleanup());
beforeEach(async () => {
  await env.clearFirestore();
  await env.withSecurityRulesDisabled(async (admin) => {
    const db = admin.firestore();
    for (const name of SYNCED) await setDoc(doc(db, `users/alice/${name}/one`), { title: `alice's ${name}` });
    for (const path of HIDDEN) await setDoc(doc(db, `users/alice/${path}`), { accessToken: "v1.ciphertext" });
    for (const path of TOP_LEVEL) await setDoc(doc(db, path), { uid: "alice" });
  });
});

const as = (uid) => (uid ? env.authenticatedContext(uid) : env.unauthenticatedContext()).firestore();

describe("the owner", () => {
  for (const name of SYNCED) {
    test(`reads and lists her ${name}`, async () => {
      const db = as("alice");
      const read = await assertSucceeds(getDoc(doc(db, `users/alice/${name}/one`)));
      if (read.data().title !== `alice's ${name}`) throw new Error("read the wrong document");
      const listed = await assertSucceeds(getDocs(collection(db, `users/alice/${name}`)));
      if (listed.size !== 1) throw new Error(`listed ${listed.size} documents`);
    });
  }
  test("gets a snapshot when the backend writes", async () => {
    const db = as("alice");
    const seen = new Promise((resolve, reject) => {
      const stop = onSnapshot(
        collection(db, "users/alice/action_items"),
        (snapshot) => {
          if (snapshot.docs.some((d) => d.id === "two")) {
            stop();
            resolve();
          }
        },
        reject,
      );
    });
    await env.withSecurityRulesDisabled((admin) => setDoc(doc(admin.firestore(), "users/alice/action_items/two"), { title: "new" }));
    await seen;
  });
  for (const path of HIDDEN) {
    test(`cannot read ${path} (not synced data)`, async () => {
      await assertFails(getDoc(doc(as("alice"), `users/alice/${path}`)));
    });
  }
  test("cannot query a synced collection across users (a collection group)", async () => {
    await assertFails(getDocs(collectionGroup(as("alice"), "mail")));
  });
  test("cannot list her connections", async () => {
    await assertFails(getDocs(collection(as("alice"), "users/alice/connections")));
  });
  for (const path of TOP_LEVEL) {
    test(`cannot read ${path}`, async () => {
      await assertFails(getDoc(doc(as("alice"), path)));
    });
  }
  test("writes nothing, not even her own synced data", async () => {
    const db = as("alice");
    await assertFails(setDoc(doc(db, "users/alice/action_items/one"), { title: "forged" }));
    await assertFails(setDoc(doc(db, "users/alice/mail/new"), { subject: "forged" }));
    await assertFails(deleteDoc(doc(db, "users/alice/mail/one")));
    await assertFails(setDoc(doc(db, "users/alice/connections/slack"), { status: "active" }));
  });
});

describe("another user", () => {
  for (const name of SYNCED) {
    test(`cannot read or list alice's ${name}`, async () => {
      const db = as("bob");
      await assertFails(getDoc(doc(db, `users/alice/${name}/one`)));
      await assertFails(getDocs(collection(db, `users/alice/${name}`)));
    });
  }
  test("is refused a listener on alice's mail", async () => {
    const refused = await new Promise((resolve) => {
      onSnapshot(collection(as("bob"), "users/alice/mail"), () => resolve("snapshot"), (error) => resolve(error.code));
    });
    if (refused !== "permission-denied") throw new Error(`listener answered ${refused}`);
  });
});

describe("nobody signed in", () => {
  for (const name of SYNCED) {
    test(`cannot read alice's ${name}`, async () => {
      await assertFails(getDoc(doc(as(null), `users/alice/${name}/one`)));
    });
  }
});
