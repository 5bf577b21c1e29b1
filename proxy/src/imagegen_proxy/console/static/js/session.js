// The key of this tab: kept in sessionStorage only (never a URL, a cookie or localStorage), forgotten on sign-out.

const KEY = "imagegen.console.key";

export function storedKey() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null; // storage disabled: the key lives in memory until the page is left
  }
}

let memoryKey = null;

export function currentKey() {
  return storedKey() ?? memoryKey;
}

export function keep(key) {
  memoryKey = key;
  try {
    sessionStorage.setItem(KEY, key);
  } catch {
    /* memory only */
  }
}

export function forget() {
  memoryKey = null;
  try {
    sessionStorage.clear(); // the key and this tab's history
  } catch {
    /* nothing stored */
  }
}
