// Rendered frames as <img> elements, kept (most recently used last) so that scrolling back
// and replaying frames cost no request.
const CACHE_SIZE = 120;

export class ImageCache {
  constructor(size = CACHE_SIZE) {
    this.size = size;
    this.entries = new Map();
  }

  // The loaded image of a URL (a promise; rejected when it cannot be loaded).
  load(url) {
    const entries = this.entries;
    if (entries.has(url)) {
      const hit = entries.get(url);
      entries.delete(url);
      entries.set(url, hit);
      return hit;
    }
    const promise = new Promise((resolve, reject) => {
      const element = new Image();
      element.onload = () => resolve(element);
      element.onerror = () => reject(new Error(`could not load ${url}`));
      element.src = url;
    });
    promise.catch(() => entries.delete(url));
    entries.set(url, promise);
    while (entries.size > this.size) entries.delete(entries.keys().next().value);
    return promise;
  }
}
