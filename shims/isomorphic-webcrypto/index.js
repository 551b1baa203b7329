// Node >= 19 exposes WebCrypto as globalThis.crypto; that is all fhirclient needs from this package.
module.exports = globalThis.crypto;
module.exports.default = globalThis.crypto;
