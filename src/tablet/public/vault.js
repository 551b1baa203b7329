// Answers at rest on the tablet: IndexedDB, encrypted with AES-GCM under a key that is generated per page load,
// is not extractable and lives in memory only. A reload, the wipe or a stolen storage dump leaves ciphertext
// nobody can read.
const DB = 'periplan-tablet';
let keyPromise = null;

function key() {
  keyPromise ??= crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  return keyPromise;
}

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore('vault');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction('vault', mode);
      const r = fn(t.objectStore('vault'));
      t.oncomplete = () => resolve(r?.result);
      t.onerror = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

/** Encrypt and store `value` under `name` (null removes it). */
export async function saveEncrypted(name, value) {
  if (value === null) return tx('readwrite', (s) => s.delete(name));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = new TextEncoder().encode(JSON.stringify(value));
  const cipher = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, await key(), data);
  return tx('readwrite', (s) => s.put({ iv, cipher }, name));
}

export async function readEncrypted(name) {
  const row = await tx('readonly', (s) => s.get(name));
  if (!row) return null;
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: row.iv }, await key(), row.cipher);
  return JSON.parse(new TextDecoder().decode(plain));
}

/** Delete the whole database (and forget the key). */
export async function clearStore() {
  keyPromise = null;
  // A deletion can wait on a connection that is still closing; never let that hold up the wipe (the page
  // reload that follows answers with Clear-Site-Data, which removes the database anyway).
  await new Promise((resolve) => {
    const req = indexedDB.deleteDatabase(DB);
    req.onsuccess = req.onerror = req.onblocked = () => resolve();
    setTimeout(resolve, 1000);
  });
}
