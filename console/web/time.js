// The API speaks UTC; people read their own zone, with the offset shown so a
// time copied into a ticket stays unambiguous.

const two = (n) => String(n).padStart(2, '0');

export function localTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const offset = -date.getTimezoneOffset(); // per date, so DST is right for old rows too
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())} ` +
    `${sign}${two(Math.floor(abs / 60))}:${two(abs % 60)}`;
}

export function timeElement(iso) {
  if (!iso) return document.createTextNode('—');
  const element = document.createElement('time');
  element.dateTime = iso;
  element.textContent = localTime(iso);
  return element;
}

/// Today as the server counts it (UTC): what /api/processes lists without from.
export function todayUtc() {
  return new Date().toISOString().slice(0, 10);
}
