() => {
  // Run by tests/browser/layout.py in the page: every layout problem, one line each.
  const problems = [];
  const doc = document.documentElement;
  const windowWidth = doc.clientWidth;
  if (doc.scrollWidth > windowWidth + 1) {
    problems.push(`the page is ${doc.scrollWidth} px wide in a ${windowWidth} px window`);
  }
  const name = el => {
    let text = el.tagName.toLowerCase();
    if (el.id) text += '#' + el.id;
    else if (el.classList.length) text += '.' + [...el.classList].slice(0, 2).join('.');
    const words = (el.innerText || el.textContent || '').trim().replace(/\s+/g, ' ');
    return words ? `${text} "${words.slice(0, 40)}"` : text;
  };
  // Not laid out for reading: drawings, form controls' insides, and text hidden for
  // screen readers only (clipped to a pixel on purpose).
  const clipped = new Map();
  const hiddenOnPurpose = el => {
    if (!el || el === document.body) return false;
    if (!clipped.has(el)) {
      const style = getComputedStyle(el);
      clipped.set(el, style.clip !== 'auto' || style.clipPath !== 'none' || hiddenOnPurpose(el.parentElement));
    }
    return clipped.get(el);
  };
  const skipped = el => el.closest('svg, script, style, noscript, template, select, textarea, option')
    || hiddenOnPurpose(el);
  const blockParent = el => {
    let parent = el.parentElement;
    while (parent && getComputedStyle(parent).display === 'contents') parent = parent.parentElement;
    return parent;
  };
  for (const el of document.body.querySelectorAll('*')) {
    if (skipped(el) || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility !== 'visible' || style.display === 'inline') continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    // Content wider than the element: scrolled or clipped out of sight.
    if (!['visible'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
      problems.push(`${name(el)}: its content is ${el.scrollWidth} px in a ${el.clientWidth} px box`);
      continue;
    }
    if (['absolute', 'fixed'].includes(style.position) || style.display.startsWith('table-')) continue;
    const parent = blockParent(el);
    if (!parent || parent === document.body || parent === doc) continue;
    const parentStyle = getComputedStyle(parent);
    if (parentStyle.display === 'inline' || parentStyle.display.startsWith('table-row')) continue;
    const room = parent.clientWidth - parseFloat(parentStyle.paddingLeft) - parseFloat(parentStyle.paddingRight);
    // A negative margin lends the element room on purpose (the admin's sidebar does).
    const outer = box.width + parseFloat(style.marginLeft) + parseFloat(style.marginRight);
    if (parent.clientWidth > 0 && outer > room + 1) {
      problems.push(`${name(el)}: ${Math.round(outer)} px wide in a ${Math.round(room)} px box (${name(parent)})`);
    }
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    const parent = node.parentElement;
    if (text.length < 2 || !parent || skipped(parent)) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()].filter(r => r.width > 0 && r.height > 0);
    if (!rects.length) continue;
    const tops = rects.map(r => r.top).sort((a, b) => a - b);
    let lines = 0, last = -1e9;
    for (const top of tops) { if (top - last > 3) { lines += 1; last = top; } }
    const letters = text.replace(/\s/g, '').length;
    // Places a line may break: between words, after a hyphen or a slash.
    const breaks = text.split(/\s+/).length + (text.match(/[-\u2010\u2013\/]/g) || []).length;
    const fontSize = parseFloat(getComputedStyle(parent).fontSize);
    const widest = Math.max(...rects.map(r => r.width));
    const where = `"${text.replace(/\s+/g, ' ').slice(0, 40)}" in ${parent.tagName.toLowerCase()}`;
    if (lines > breaks) {
      problems.push(`${where}: a word cut across lines (${lines} lines, ${breaks} words)`);
    } else if (lines >= 3 && letters / lines < 3) {
      problems.push(`${where}: ${letters} letters on ${lines} lines`);
    } else if (letters >= 4 && widest < fontSize * 1.2) {
      problems.push(`${where}: ${letters} letters in ${Math.round(widest)} px`);
    }
  }
  return problems;
}
