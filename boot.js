// Loads the app. Trunk would inline this, which the page's Content-Security-Policy forbids; Trunk.toml's
// `pattern_script` points here instead and passes the hashed file names as data attributes.
const tag = document.querySelector('script[data-wasm]');
const { default: init } = await import(tag.dataset.js);
await init({ module_or_path: tag.dataset.wasm });
