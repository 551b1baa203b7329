// Answers at rest on the tablet: IndexedDB, encrypted with AES-GCM. The key is a non-extractable CryptoKey
// stored in the same database, so it survives a reload (the answers and a queued submission must), while no
// script can read or export its bytes: a page can only ask the browser to encrypt or decrypt with it. The
// ciphertext and the key go together: `clearStore()` deletes the whole database. (What protects the files of
// a stolen tablet is the device's own disk encryption; this keeps the answers out of reach of script and of
// anyone browsing the storage.)
const DB = 'periplan-tablet';
const STORE = 'vault';
const KEY = 'key';
let keyPromise = null;
// Bumped by clearStore(): a write that began before a wipe must not recreate the database after it.
let generation = 0;

/**
 * Open the database. `create` false: if it does not exist, do not create it (the upgrade is aborted) and
 * resolve null, so reading an empty tablet leaves no database behind.
 */
function open(create) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    let aborted = false;
    req.onupgradeneeded = () => {
      if (create) req.result.createObjectStore(STORE);
      else {
        aborted = true;
        req.transaction.abort();
      }
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => (aborted ? resolve(null) : reject(req.error));
  });
}

async function tx(mode, fn, expectedGeneration = generation) {
  if (expectedGeneration !== generation) return undefined;
  const db = await open(mode === 'readwrite');
  if (!db) return undefined;
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const r = fn(t.objectStore(STORE));
      t.oncomplete = () => resolve(r?.result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

/** The tablet's key: the one stored, or a new non-extractable one (stored with `add`, so two tabs agree). */
function key() {
  const started = generation;
  keyPromise ??= (async () => {
    const stored = await tx('readonly', (s) => s.get(KEY), started);
    if (stored) return stored;
    const fresh = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
    try {
      await tx('readwrite', (s) => s.add(fresh, KEY), started);
      return fresh;
    } catch {
      return tx('readonly', (s) => s.get(KEY), started);
    }
  })().catch((e) => {
    keyPromise = null;
    throw e;
  });
  return keyPromise;
}

/** Encrypt and store `value` under `name` (null removes it). Nothing is written once the store was cleared since. */
export async function saveEncrypted(name, value) {
  const started = generation;
  if (value === null) return tx('readwrite', (s) => s.delete(name), started);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = new TextEncoder().encode(JSON.stringify(value));
  const k = await key();
  if (started !== generation) return undefined;
  const cipher = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, k, data);
  return tx('readwrite', (s) => s.put({ iv, cipher }, name), started);
}

/** The value stored under `name`, or null. Throws when it cannot be decrypted (then nothing can be recovered). */
export async function readEncrypted(name) {
  const row = await tx('readonly', (s) => s.get(name));
  if (!row) return null;
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: row.iv }, await key(), row.cipher);
  return JSON.parse(new TextDecoder().decode(plain));
}

/** A value that says nothing about the patient (the time of the last touch), stored as it is. */
export async function savePlain(name, value) {
  return tx('readwrite', (s) => s.put(value, name), generation);
}

export async function readPlain(name) {
  return (await tx('readonly', (s) => s.get(name))) ?? null;
}

/** Delete the whole database: the answers, a queued submission and the key. */
export async function clearStore() {
  generation++;
  keyPromise = null;
  // Every connection of this module is closed after its transaction, so the deletion is not blocked for
  // long; if it is, it stays queued and completes when the last connection closes: do not hold up the wipe.
  await new Promise((resolve) => {
    const req = indexedDB.deleteDatabase(DB);
    req.onsuccess = req.onerror = req.onblocked = () => resolve();
    setTimeout(resolve, 1000);
  });
}
