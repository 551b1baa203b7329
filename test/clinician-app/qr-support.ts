/** jsqr is CommonJS with an ES-module `.d.ts`: under NodeNext its default import is `module.exports` at run time. */
import jsqrModule from 'jsqr';

type Decode = typeof jsqrModule.default;
const loaded = jsqrModule as unknown as Decode | { default: Decode };
export const jsQR: Decode = typeof loaded === 'function' ? loaded : loaded.default;
