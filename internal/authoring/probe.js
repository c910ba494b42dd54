// The in-page half of seftbot probe and record: it reads a page it has no
// profile for and describes its structure, to help write one. It never
// reads a form field's value (only button captions), and never writes to
// the page. Called as (FUNC)(op, args); returns JSON data, or a promise.
(function (op, a) {
  const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const cut = (s, n) => { s = norm(s); return s.length > n ? s.slice(0, n) + '…' : s; };
  const textOf = (e) => (e ? (e.innerText !== undefined ? e.innerText : e.textContent) : '');
  function visible(e) {
    if (!e || !e.isConnected) return false;
    const r = e.getBoundingClientRect();
    if (!(r.width > 0 && r.height > 0)) return false;
    const cs = getComputedStyle(e);
    return cs.visibility !== 'hidden' && cs.display !== 'none';
  }
  const esc = (s) => (window.CSS && CSS.escape ? CSS.escape(s) : s.replace(/[^\w-]/g, '\\$&'));
  const q = (s) => JSON.stringify(s);
  const unique = (sel) => { try { return document.querySelectorAll(sel).length === 1; } catch (e) { return false; } };
  // Classes that say how an element looks now, not what it is.
  const stateClass = /^(odd|even|active|selected|hover|focus|open|closed|hidden|show|is-|has-|ng-|js-)/;
  const classes = (e) => (typeof e.className === 'string' ? e.className.split(/\s+/).filter((c) => c && !stateClass.test(c)) : []);
  // stableId: an id that does not look generated (no long digit runs, no
  // hashes), so a selector on it survives a new release.
  const stableId = (id) => !!id && !/\d{3,}|[0-9a-f]{8,}|^[0-9]|:|^(ember|react|ext-gen|j_id)/i.test(id);
  // css is a short CSS path to e: its stable id, or its classes, or a path
  // from the nearest ancestor with one.
  function css(e) {
    if (!e || e.nodeType !== 1) return '';
    if (stableId(e.id) && unique('#' + esc(e.id))) return '#' + esc(e.id);
    const tag = e.tagName.toLowerCase();
    const cls = classes(e).map((c) => '.' + esc(c)).join('');
    if (e.name && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(e.tagName) && unique(tag + '[name=' + q(e.name) + ']')) return tag + '[name=' + q(e.name) + ']';
    if (cls && unique(tag + cls)) return tag + cls;
    const parts = [];
    let x = e;
    while (x && x.nodeType === 1 && x !== document.documentElement) {
      if (x !== e && stableId(x.id) && unique('#' + esc(x.id))) { parts.unshift('#' + esc(x.id)); break; }
      let p = x.tagName.toLowerCase();
      const c = classes(x).map((c) => '.' + esc(c)).join('');
      if (c) p += c;
      const sib = x.parentElement ? Array.from(x.parentElement.children).filter((s) => s.tagName === x.tagName) : [];
      if (sib.length > 1 && !(c && sib.filter((s) => s.matches(p)).length === 1)) p += ':nth-of-type(' + (sib.indexOf(x) + 1) + ')';
      parts.unshift(p);
      x = x.parentElement;
      if (unique(parts.join(' > '))) break;
    }
    return parts.join(' > ');
  }
  const implicitRole = (e) => {
    const t = e.tagName;
    if (t === 'BUTTON' || (t === 'INPUT' && /^(submit|button|reset|image)$/i.test(e.type)) || t === 'SUMMARY') return 'button';
    if (t === 'A' && e.hasAttribute('href')) return 'link';
    if (t === 'INPUT' && e.type === 'checkbox') return 'checkbox';
    if (t === 'INPUT' && e.type === 'radio') return 'radio';
    if (t === 'SELECT') return 'combobox';
    if (t === 'TEXTAREA' || (t === 'INPUT' && /^(text|email|tel|url|search|password|)$/i.test(e.getAttribute('type') || ''))) return 'textbox';
    if (t === 'LI') return 'listitem';
    if (t === 'TR') return 'row';
    return '';
  };
  const roleOf = (e) => e.getAttribute('role') || implicitRole(e);
  const labelText = (l) => Array.from(l.childNodes)
    .filter((n) => !(n.nodeType === 1 && /^(SELECT|TEXTAREA|INPUT|BUTTON)$/.test(n.tagName)))
    .map((n) => n.textContent).join(' ');
  function labelOf(e) {
    const by = e.getAttribute('aria-labelledby');
    if (by) return norm(by.split(/\s+/).map((id) => textOf(document.getElementById(id))).join(' '));
    if (e.getAttribute('aria-label')) return norm(e.getAttribute('aria-label'));
    if (e.labels && e.labels.length) return norm(labelText(e.labels[0]));
    return '';
  }
  // accName approximates what a screen reader says; for a field never its value.
  function accName(e) {
    const l = labelOf(e);
    if (l) return l;
    if (e.tagName === 'INPUT' && /^(submit|button|reset)$/i.test(e.type)) return norm(e.value);
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(e.tagName)) return norm(e.getAttribute('placeholder') || e.getAttribute('title') || '');
    return norm(textOf(e)) || norm(e.getAttribute('title') || '');
  }
  const clickable = 'a[href],button,input[type=submit],input[type=button],input[type=image],[role=button],[role=link],[onclick],summary';
  // locators lists ways to find e, most robust first: a label or role and
  // name survive a restyle; text survives a new id; a stable id survives a
  // new text; CSS comes last.
  function locators(e, root) {
    const out = [];
    const count = (sel) => sel.startsWith('text=') ? byText(sel.slice(5), root).length
      : sel.startsWith('label=') ? byLabel(sel.slice(6), root).length
      : sel.startsWith('role=') ? byRole(sel, root).length : (() => { try { return (root || document).querySelectorAll(sel).length; } catch (x) { return 0; } })();
    const add = (sel) => { if (sel && !out.includes(sel) && count(sel) >= 1) out.push(sel); };
    const name = accName(e);
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(e.tagName) && labelOf(e)) add('label=' + labelOf(e));
    const role = roleOf(e);
    if (role && name && !/["\n]/.test(name) && name.length <= 60) add('role=' + role + '[name=' + q(name) + ']');
    if (e.matches(clickable) && norm(textOf(e) || e.value) && norm(textOf(e) || e.value).length <= 60) add('text=' + norm(textOf(e) || e.value));
    if (stableId(e.id)) add('#' + esc(e.id));
    add(root ? rel(e, root) : css(e));
    // Keep only locators that find e first (a row's control: within the row).
    return out.filter((s) => { const f = first(s, root); return f === e; });
  }
  // rel is a CSS selector for e within root: a class, else a tag path.
  function rel(e, root) {
    const tag = e.tagName.toLowerCase();
    const c = classes(e).map((c) => '.' + esc(c)).join('');
    for (const s of [c, tag + c, tag]) {
      if (!s) continue;
      try { if (root.querySelector(s) === e) return s; } catch (x) { /* try the next */ }
    }
    return '';
  }
  const byText = (t, root) => Array.from((root || document).querySelectorAll('button,a,input[type=submit],input[type=button],[role=button],[role=link],[role=tab],[role=menuitem],summary'))
    .filter((e) => norm(textOf(e) || e.value || e.getAttribute('aria-label')).toLowerCase() === norm(t).toLowerCase());
  const byLabel = (t, root) => Array.from((root || document).querySelectorAll('input,select,textarea,[aria-label],[aria-labelledby]'))
    .filter((e) => labelOf(e).toLowerCase() === norm(t).toLowerCase());
  function byRole(sel, root) {
    const m = /^role=([a-z]+)(?:\[name="([^"]*)"\])?$/.exec(sel);
    if (!m) return [];
    return Array.from((root || document).querySelectorAll('*')).filter((e) => roleOf(e) === m[1] && (m[2] === undefined || accName(e).toLowerCase() === m[2].toLowerCase()));
  }
  function first(sel, root) {
    if (sel.startsWith('text=')) return byText(sel.slice(5), root)[0] || null;
    if (sel.startsWith('label=')) return byLabel(sel.slice(6), root)[0] || null;
    if (sel.startsWith('role=')) return byRole(sel, root)[0] || null;
    if (sel.startsWith('xpath=')) {
      try { return document.evaluate(sel.slice(6), root || document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue; } catch (x) { return null; }
    }
    try { return (root || document).querySelector(sel); } catch (x) { return null; }
  }

  const nameLike = /^[^\s\/\\]{1,200}\.[A-Za-z0-9]{1,5}$/;
  const sizeLike = /^\d[\d,. ]*\s*(bytes?|b|kb|mb|gb|kib|mib|gib|k|m)?$/i;
  // Attributes an operator may need (data-*, title, href, download, aria-*),
  // never a field's value.
  function attrs(e) {
    const out = {};
    for (const at of Array.from(e.attributes)) {
      if (at.name === 'value' || at.name === 'style' || at.name === 'class' || at.name.startsWith('on')) continue;
      out[at.name] = cut(at.value, 120);
    }
    return out;
  }

  // Repeated structures: three or more similar siblings (same tag and
  // classes), the shape of a file list. One entry per selector, however
  // many parents repeat it.
  const rowTags = /^(TR|LI|DIV|ARTICLE|SECTION|DD|A)$/;
  // headerRow: a table's header (in <thead>, or all <th> cells) is never
  // a file's row, however like the rows below it.
  const headerRow = (e) => e.tagName === 'TR' && (!!e.closest('thead') || (e.children.length > 0 && Array.from(e.children).every((c) => c.tagName === 'TH')));
  // columnOf: the header text over a table cell's column, or ''.
  function columnOf(c) {
    const tr = c.parentElement;
    if (!tr || tr.tagName !== 'TR' || !/^(TD|TH)$/.test(c.tagName)) return '';
    const table = tr.closest('table');
    if (!table) return '';
    const h = Array.from(table.querySelectorAll('tr')).find((r) => r.closest('table') === table && headerRow(r));
    if (!h || h === tr) return '';
    const i = Array.from(tr.children).indexOf(c);
    return h.children[i] ? cut(textOf(h.children[i]), 40) : '';
  }
  function sig(e) { return e.tagName + '|' + classes(e).sort().join('.') + '|' + (e.getAttribute('role') || ''); }
  function repeated() {
    const groups = [];
    for (const p of document.querySelectorAll('body *')) {
      if (p.children.length < 3) continue;
      const by = new Map();
      for (const c of p.children) {
        if (!rowTags.test(c.tagName) || headerRow(c)) continue;
        const k = sig(c);
        if (!by.has(k)) by.set(k, []);
        by.get(k).push(c);
      }
      for (const els of by.values()) {
        // Page links ("1 2 3 Next") repeat too, but they are the pager.
        if (els.every((e) => { const t = norm(textOf(e)); return pageNumber.test(t) || /^(next|next page|previous|prev|first|last|›|»|‹|«|<|>|<<|>>)$/i.test(t); })) continue;
        if (els.length >= 3 && els.some(visible) && els.some((e) => norm(textOf(e)))) groups.push({ parent: p, els });
      }
    }
    const out = [];
    const seen = new Set();
    for (const g of groups) {
      const sel = rowSelector(g.parent, g.els);
      if (!sel || seen.has(sel)) continue;
      seen.add(sel);
      out.push(describeGroup(sel, g.els));
    }
    // The likeliest file list first: rows with a file name, then many rows.
    out.sort((x, y) => (y.fileLike - x.fileLike) || (y.count - x.count));
    return out.slice(0, 8);
  }
  function rowSelector(parent, els) {
    const e = els[0];
    const tag = e.tagName.toLowerCase();
    const cls = classes(e).map((c) => '.' + esc(c)).join('');
    const total = document.querySelectorAll('*').length;
    let anc = parent;
    while (anc && !(stableId(anc.id) && unique('#' + esc(anc.id)))) anc = anc.parentElement;
    const ancSel = anc ? '#' + esc(anc.id) : '';
    const cands = [];
    if (ancSel && cls) cands.push(ancSel + ' ' + tag + cls);
    if (cls) cands.push(tag + cls, cls);
    if (ancSel) cands.push(ancSel + ' ' + tag);
    const role = e.getAttribute('role');
    if (role) cands.push('role=' + role);
    // A selector that also finds the table's header row is kept off it.
    const noHeader = (s) => (!s.startsWith('role=') && tag === 'tr' && Array.from(document.querySelectorAll(s)).some(headerRow) ? s + ':has(td)' : s);
    for (const s of cands) {
      const n = s.startsWith('role=') ? byRole(s).length : document.querySelectorAll(s).length;
      if (n >= els.length && n <= els.length * 4 && total) return noHeader(s);
    }
    return noHeader(css(parent) + ' > ' + tag + cls);
  }
  function cellsOf(row) {
    let kids = Array.from(row.children);
    if (kids.length === 1 && kids[0].children.length > 1) kids = Array.from(kids[0].children);
    return kids;
  }
  function describeGroup(sel, els) {
    const row = els.find(visible) || els[0];
    const cells = [];
    let name = null, size = null;
    const rowAttrs = attrs(row);
    for (const [k, v] of Object.entries(rowAttrs)) {
      if (k !== 'id' && nameLike.test(v) && !name) name = { attr: k, value: v };
    }
    for (const c of cellsOf(row).slice(0, 12)) {
      const t = cut(textOf(c), 80);
      const at = attrs(c);
      const flags = [];
      const inner = c.querySelector ? Array.from(c.querySelectorAll('[title],[data-file],[data-name],[download]')) : [];
      if (nameLike.test(norm(textOf(c)))) flags.push('file name');
      else if (/…|\.\.\.$/.test(t)) flags.push('shortened text: look for the full name in an attribute');
      if (sizeLike.test(norm(textOf(c))) && !/^\d{1,2}$/.test(norm(textOf(c)))) flags.push('size');
      for (const [k, v] of Object.entries(at)) if (k !== 'id' && nameLike.test(v) && !/^(href|src)$/.test(k)) flags.push('file name in attribute ' + k);
      for (const x of inner) for (const [k, v] of Object.entries(attrs(x))) if (/^(title|data-file|data-name|download)$/.test(k) && nameLike.test(v)) flags.push('file name in attribute ' + k + ' of ' + x.tagName.toLowerCase());
      // A cell without a class of its own is found by its column.
      let loc = rel(c, row);
      if (c.parentElement && (!loc || !classes(c).length)) {
        const nth = c.tagName.toLowerCase() + ':nth-child(' + (Array.from(c.parentElement.children).indexOf(c) + 1) + ')';
        if (row.querySelector(nth) === c) loc = nth;
      }
      const column = columnOf(c) || undefined;
      if (!name && flags.includes('file name')) name = { in: loc, value: norm(textOf(c)), column };
      if (!size && flags.includes('size')) size = { in: loc, value: norm(textOf(c)), column };
      cells.push({ tag: c.tagName.toLowerCase(), column, class: classes(c).join(' ') || undefined, role: c.getAttribute('role') || undefined, selector: loc || undefined, text: t || undefined, attrs: Object.keys(at).length ? at : undefined, flags: flags.length ? flags : undefined });
    }
    const controls = Array.from(row.querySelectorAll(clickable)).filter(visible).slice(0, 4)
      .map((e) => ({ tag: e.tagName.toLowerCase(), text: cut(textOf(e) || e.value, 60), locators: locators(e, row), href: e.getAttribute('href') || undefined, download: e.hasAttribute('download') || undefined }));
    return {
      selector: sel, count: els.length, tag: row.tagName.toLowerCase(),
      fileLike: name ? 1 : 0,
      example: { attrs: Object.keys(rowAttrs).length ? rowAttrs : undefined, text: cut(textOf(row), 160), cells },
      name: name || undefined, size: size || undefined, downloads: controls,
    };
  }

  const pagerText = /^(next|next page|more|show more|load more|older|newer|previous|prev|›|»|>|>>|\d{1,3})$|next|more|older|load/i;
  // pageMode: what following href does: a new page, or (an empty or
  // #fragment-only link) the same page redrawn.
  function pageMode(href, t) {
    let same = !href || href === '#' || /^javascript:/i.test(href);
    if (!same) {
      try {
        const u = new URL(href, location.href);
        same = u.origin + u.pathname + u.search === location.origin + location.pathname + location.search;
      } catch (x) { /* not a URL: a new page, as before */ }
    }
    return !same ? 'navigate' : /more|load/i.test(t) ? 'append' : 'in_place';
  }
  const pageNumber = /^(page\s*)?\d{1,4}$/i;
  // numberedPager finds page links ("1 2 3", "Page 2") with the current
  // page marked (bold, not a link, aria-current, or a current/active
  // class), and the selector of the link after the current page: the one
  // control that pages on from any page, and matches nothing on the last.
  function numberedPager(rowEls) {
    const links = Array.from(document.querySelectorAll('a[href]')).filter((e) => visible(e) && pageNumber.test(norm(textOf(e))) && !rowEls.some((r) => r.contains(e)));
    for (const l of links) {
      // The item is the link, or its wrapper (<li>) when links are wrapped.
      const item = (l.parentElement && l.parentElement.children.length === 1 && l.parentElement.parentElement) ? l.parentElement : l;
      const box = item.parentElement;
      if (!box) continue;
      const items = Array.from(box.children);
      const numbered = items.filter((x) => pageNumber.test(norm(textOf(x))));
      if (numbered.length < 2) continue;
      const isLink = (x) => (x.matches('a[href]') ? x : x.querySelector('a[href]'));
      const cur = numbered.find((x) => x.matches('[aria-current],:has([aria-current])')) ||
        numbered.find((x) => !isLink(x)) ||
        numbered.find((x) => /(^|\s)(current|active|selected)(\s|$)/.test(x.className || ''));
      if (!cur) {
        const bare = bareCurrent(box);
        if (bare) return bare;
        continue;
      }
      const tag = cur.tagName.toLowerCase();
      const k = /(^|\s)(current|active|selected)(\s|$)/.exec(cur.className || '');
      const curSel = cur.hasAttribute('aria-current') ? tag + '[aria-current]' : k ? tag + '.' + k[2] : tag;
      const boxSel = css(box);
      if (!boxSel) continue;
      const sel = boxSel + ' > ' + curSel + ' + ' + (item === l ? 'a' : item.tagName.toLowerCase() + ' > a');
      const next = first(sel);
      const after = items[items.indexOf(cur) + 1];
      if (!next || !after || isLink(after) !== next) continue;
      return { sel, box, next, text: norm(textOf(next)) };
    }
    return null;
  }
  // bareCurrent finds the pager whose current page is bare text between
  // the links ("1 <a>2</a> <a>3</a>"): CSS cannot select the link after a
  // text, so the control is an XPath, the link whose nearest sibling
  // before it is a number in plain text.
  function bareCurrent(box) {
    let boxX = '';
    if (box.id) boxX = '//*[@id="' + box.id + '"]';
    else if (box.classList && box.classList.length) boxX = '//' + box.tagName.toLowerCase() + '[contains(concat(" ", normalize-space(@class), " "), " ' + box.classList[0] + ' ")]';
    if (!boxX) return null;
    const sel = 'xpath=' + boxX + '/a[preceding-sibling::node()[1][self::text()][translate(normalize-space(), "0123456789", "") = "" and normalize-space() != ""]]';
    const next = first(sel);
    if (!next || !pageNumber.test(norm(textOf(next)))) return null;
    return { sel, box, next, text: norm(textOf(next)) };
  }
  function pagination(rowEls) {
    const out = [];
    const np = numberedPager(rowEls);
    if (np) out.push({ tag: 'a', text: 'the link after the current page (now ' + np.text + ')', locators: [np.sel], mode: pageMode(np.next.getAttribute('href'), '') });
    for (const e of document.querySelectorAll(clickable + ',[rel=next]')) {
      if (rowEls.some((r) => r.contains(e)) || !visible(e)) continue;
      if (np && np.box.contains(e) && pageNumber.test(norm(textOf(e)))) continue;
      const t = norm(textOf(e) || e.value || e.getAttribute('aria-label'));
      if (!(e.getAttribute('rel') === 'next' || (t.length <= 30 && pagerText.test(t)))) continue;
      if (/^(sign|log)\s?(in|out)$/i.test(t)) continue;
      const href = e.getAttribute('href');
      const mode = pageMode(href, t);
      out.push({ tag: e.tagName.toLowerCase(), text: t, locators: locators(e), mode, disabled: !!(e.disabled || e.getAttribute('aria-disabled') === 'true') || undefined });
      if (out.length >= 8) break;
    }
    return out;
  }

  function loginForm() {
    const pw = Array.from(document.querySelectorAll('input[type=password]')).filter(visible);
    const texts = Array.from(document.querySelectorAll('input:not([type]),input[type=text],input[type=email],input[type=tel]')).filter(visible);
    const submitOf = (field) => {
      const f = field.form;
      const scope = f || field.closest('section,div,main,body') || document.body;
      const b = Array.from(scope.querySelectorAll('button:not([type=button]),input[type=submit],button[type=button],[role=button]')).filter(visible)[0];
      return b ? css(b) : '';
    };
    if (pw.length) {
      const p = pw[0];
      // The user field: the last text field before the password field.
      const before = texts.filter((e) => e.compareDocumentPosition(p) & Node.DOCUMENT_POSITION_FOLLOWING);
      const u = before[before.length - 1];
      return { stage: 'password', passwords: pw.length, password: css(p), user: u ? css(u) : '', submit: submitOf(p) };
    }
    if (texts.length) return { stage: 'user', passwords: 0, user: css(texts[0]), submit: submitOf(texts[0]) };
    return { stage: 'none', passwords: 0 };
  }

  function messages(rowEls) {
    const out = [];
    const sel = '[role=alert],[role=status],[role=dialog],.error,.alert,.notice,.problem,.message,.warning,.nothing,.empty,h1,h2,h3,p,caption';
    for (const e of document.querySelectorAll(sel)) {
      if (!visible(e) || rowEls.some((r) => r.contains(e))) continue;
      const t = cut(textOf(e), 200);
      if (t && !out.includes(t)) out.push(t);
      if (out.length >= 20) break;
    }
    return out;
  }

  function report() {
    const rep = repeated();
    const rowEls = [];
    for (const g of rep) for (const e of (g.selector.startsWith('role=') ? byRole(g.selector) : Array.from(document.querySelectorAll(g.selector)))) rowEls.push(e);
    const outside = (e) => !rowEls.some((r) => r.contains(e));
    const desc = (e) => ({ tag: e.tagName.toLowerCase(), type: e.getAttribute('type') || undefined, text: cut(accName(e), 60) || undefined, locators: locators(e) });
    return {
      url: location.href, title: document.title,
      messages: messages(rowEls),
      forms: Array.from(document.querySelectorAll('input,select,textarea')).filter((e) => visible(e) || e.type === 'file').slice(0, 20)
        .map((e) => ({ tag: e.tagName.toLowerCase(), type: e.getAttribute('type') || undefined, label: labelOf(e) || undefined, locators: locators(e) })),
      buttons: Array.from(document.querySelectorAll(clickable)).filter((e) => visible(e) && outside(e)).slice(0, 25).map(desc),
      repeated: rep,
      pagination: rep.length ? pagination(rowEls) : [],
      iframes: Array.from(document.querySelectorAll('iframe,frame')).map((f) => ({ id: f.id || undefined, name: f.getAttribute('name') || undefined, src: f.getAttribute('src') || undefined, title: f.getAttribute('title') || undefined })),
      login: loginForm(),
    };
  }

  switch (op) {
    case 'quiet':
      // Resolves once the DOM has not changed for a.quiet ms (ok), or at a.ms.
      return new Promise((resolve) => {
        let changed = Date.now();
        const obs = new MutationObserver(() => { changed = Date.now(); });
        obs.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
        const start = Date.now();
        const iv = setInterval(() => {
          const q = Date.now() - changed;
          if (q >= a.quiet || Date.now() - start >= a.ms) {
            clearInterval(iv);
            obs.disconnect();
            resolve({ ok: q >= a.quiet, quiet: q });
          }
        }, 50);
      });
    case 'login':
      return loginForm();
    case 'report':
      return report();
    case 'record': {
      // Runs in an isolated world of every document (seftbot record): it
      // reports each fill and click an operator makes through the binding
      // a.binding, with locators. No field's value ever leaves: a password
      // field becomes {password}, the field holding the configured user
      // name {user}, and any other typed text is only reported as typed.
      if (window.__seftbotRecording) return true;
      window.__seftbotRecording = true;
      const send = (m) => { try { window[a.binding](JSON.stringify(Object.assign({ url: location.href }, m))); } catch (x) { /* binding gone */ } };
      const rowOf = (el) => {
        for (let x = el; x && x.parentElement && x !== document.body; x = x.parentElement) {
          if (!rowTags.test(x.tagName)) continue;
          const sibs = Array.from(x.parentElement.children).filter((s) => sig(s) === sig(x) && !headerRow(s));
          if (sibs.length >= 3) return { row: x, parent: x.parentElement, sibs };
        }
        return null;
      };
      const textField = (e) => e.tagName === 'TEXTAREA' || (e.tagName === 'INPUT' && /^(text|email|tel|url|search|password|number|)$/i.test(e.getAttribute('type') || ''));
      // A fill is reported before the key press or click that follows it,
      // in the order the operator acted: a field typed into (input) is
      // dirty until its fill is reported, at its change, at Enter in it,
      // or at the next click, whichever comes first. Waiting for change
      // alone put Enter before the typing it followed, and the replay sent
      // an empty password. Only the flag is kept, never the value.
      const dirty = new Set();
      const fillOf = (e) => {
        dirty.delete(e);
        const ph = e.type === 'password' ? '{password}' : (a.user && e.value === a.user ? '{user}' : '');
        send({ kind: 'fill', with: ph, locators: locators(e) });
      };
      const flush = () => { for (const e of Array.from(dirty)) if (e.isConnected) fillOf(e); else dirty.delete(e); };
      document.addEventListener('input', (ev) => {
        const e = ev.target;
        if (ev.isTrusted && e && e.tagName && textField(e)) dirty.add(e);
      }, true);
      document.addEventListener('change', (ev) => {
        const e = ev.target;
        if (!ev.isTrusted || !e || !e.tagName) return;
        if (e.tagName === 'INPUT' && /^(checkbox|radio)$/i.test(e.type)) {
          if (e.checked) send({ kind: 'check', locators: locators(e) });
          return;
        }
        if (e.tagName === 'SELECT') {
          const o = e.options[e.selectedIndex];
          send({ kind: 'select', locators: locators(e), option: o ? norm(o.textContent) : '' });
          return;
        }
        if (e.tagName === 'INPUT' && e.type === 'file') { send({ kind: 'file', locators: locators(e) }); return; }
        // Reported already (at Enter or a click) unless typed into since.
        if (textField(e) && dirty.has(e)) fillOf(e);
      }, true);
      // Enter in a field sends its form: Chromium then clicks the form's
      // default button itself (a click with detail 0). That click is the
      // same send, not a step of its own: it is left out until the key
      // comes up.
      let entered = null;
      document.addEventListener('keydown', (ev) => {
        const e = ev.target;
        if (!ev.isTrusted || ev.key !== 'Enter' || !e || !e.tagName || !textField(e)) return;
        // The field's own fill first (its value is read now, not at a
        // change that follows the send), then any other typed field.
        if (dirty.has(e) || (e.type === 'password' && e.value !== '')) fillOf(e);
        flush();
        entered = e.form || e;
        send({ kind: 'press', key: 'Enter', locators: locators(e), password: e.type === 'password' });
      }, true);
      document.addEventListener('keyup', (ev) => { if (ev.key === 'Enter') entered = null; }, true);
      document.addEventListener('click', (ev) => {
        if (!ev.isTrusted || !ev.target || !ev.target.closest) return;
        if (ev.target.closest('label')) return; // a label's click reaches its control, reported by change
        const t = ev.target.closest(clickable);
        if (!t || (t.tagName === 'INPUT' && !/^(submit|button|image)$/i.test(t.type))) return;
        if (entered && ev.detail === 0 && (t.form === entered || entered.contains && entered.contains(t))) return;
        flush();
        const np = numberedPager([]);
        if (np && np.box.contains(t) && pageNumber.test(norm(textOf(t)))) {
          send({ kind: 'click', locators: np.next === t ? [np.sel] : locators(t), text: cut(textOf(t), 60) });
          return;
        }
        const r = rowOf(t);
        if (r) {
          const g = describeGroup(rowSelector(r.parent, r.sibs), r.sibs);
          send({ kind: 'row', row: g.selector, rows: r.sibs.length, name: g.name || null, size: g.size || null, locators: locators(t, r.row), text: cut(textOf(t), 60) });
          return;
        }
        send({ kind: 'click', locators: locators(t), text: cut(textOf(t) || t.value, 60) });
      }, true);
      return true;
    }
    case 'signedIn': {
      // A sign-out control marks a signed-in page. It may be in the page,
      // hidden, before sign-in, hence :not([hidden]).
      const so = Array.from(document.querySelectorAll(clickable)).find((e) => visible(e) && /^(sign|log)\s?(out|off)$/i.test(norm(textOf(e) || e.value)));
      return so ? [css(so) + ':not([hidden])'] : [];
    }
    case 'confirmation': {
      // After a file was sent: the visible message that says it arrived.
      const said = /received|uploaded|success|thank you|has been sent|accepted/i;
      const cands = Array.from(document.querySelectorAll('[role=status],[role=alert],.alert,.success,.notice,.message,p,div,span,h1,h2'))
        .filter((e) => visible(e) && said.test(norm(textOf(e))) && norm(textOf(e)).length < 200);
      // The innermost element that says it.
      const e = cands.filter((c) => !cands.some((d) => d !== c && c.contains(d)))[0];
      return e ? { sel: css(e), text: cut(textOf(e), 120) } : { sel: '', text: '' };
    }
    case 'rowsNow': {
      const els = a.sel.startsWith('role=') ? byRole(a.sel) : Array.from(document.querySelectorAll(a.sel));
      const f = els[0];
      let first = '';
      if (f && a.name) first = a.name.attr ? f.getAttribute(a.name.attr) || '' : (a.name.in ? norm(textOf(f.querySelector(a.name.in))) : '');
      return { count: els.length, first, url: location.href };
    }
    case 'pagerMode': {
      // What the paging control a.sel (alternatives) does, by its link.
      for (const s of a.sel || []) {
        const e = first(s);
        if (e) return pageMode(e.getAttribute('href'), norm(textOf(e) || e.value));
      }
      return '';
    }
    case 'locators': {
      const e = first(a.sel);
      return e ? locators(e) : [];
    }
  }
  throw new Error('unknown op ' + op);
})
