() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {what: 'nothing', inView: false, contrast: 0};
  const rgba = (text) => {
    const m = /rgba?\(([^)]*)\)/.exec(text || '');
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const luminance = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const ratio = (x, y) => {
    const [hi, lo] = [luminance(x), luminance(y)].sort((p, q) => q - p);
    return (hi + 0.05) / (lo + 0.05);
  };
  // The background around the ring: what is painted just outside the element's box
  // (an absolutely placed element, like the skip link, sits over other parts of the page).
  const box = el.getBoundingClientRect();
  const opaque = (node) => {
    const c = rgba(getComputedStyle(node).backgroundColor);
    return c && c.a > 0.5 ? c : null;
  };
  let around = null;
  const x = box.left >= 10 ? box.left - 9 : Math.min(box.right + 9, window.innerWidth - 1);
  const y = Math.min(Math.max(box.top + box.height / 2, 0), window.innerHeight - 1);
  for (const node of document.elementsFromPoint(x, y)) {
    if (node === el || el.contains(node)) continue;
    around = opaque(node);
    if (around) break;
  }
  for (let node = el.parentElement; node && !around; node = node.parentElement) around = opaque(node);
  around = around || {r: 255, g: 255, b: 255, a: 1};
  const style = getComputedStyle(el);
  const rings = [];
  if (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2) rings.push(rgba(style.outlineColor));
  for (const m of (style.boxShadow || '').matchAll(/(rgba?\([^)]*\))\s+([^,]+)/g)) {
    const lengths = m[2].trim().split(/\s+/).map(parseFloat);
    if (!m[2].includes('inset') && (lengths[3] || 0) >= 2) rings.push(rgba(m[1]));
  }
  const contrast = Math.max(0, ...rings.filter((c) => c && c.a > 0.5).map((c) => ratio(c, around)));
  const inView = box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0
    && box.top < window.innerHeight && box.left < window.innerWidth;
  const name = (el.getAttribute('aria-label') || el.textContent || el.name || '').trim().slice(0, 40);
  const what = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.classList[0] ? '.' + el.classList[0] : '');
  return {what: what + ' ' + name, inView, contrast};
}
