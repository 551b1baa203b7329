// The launch context (patient, user, style, what this user may do), loaded once at boot by app.js and read
// by every view. It lives apart from app.js so the views need not import the entry that imports them.
let launchContext = null;

export function context() {
  return launchContext;
}

export function setContext(value) {
  launchContext = value;
}
