// The in-page half of seftbot: it reads pages through the site profile and
// never writes to them (rowClick only clicks, as a user would). Called as
// (FUNC)(profile, op, args); returns JSON data.
(function (P, op, a) {
  const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const low = (s) => norm(s).toLowerCase();
  // all resolves a profile selector: text=..., label=..., css=... or CSS.
  function all(sel, root) {
    root = root || document;
    if (!sel) return [];
    if (sel.startsWith('text=')) {
      const want = low(sel.slice(5));
      const c = root.querySelectorAll('button,a,input[type=submit],input[type=button],[role=button],[role=link]');
      return Array.from(c).filter((e) => low(e.innerText || e.value || e.getAttribute('aria-label')) === want);
    }
    if (sel.startsWith('label=')) {
      const want = low(sel.slice(6));
      const out = [];
      for (const l of root.querySelectorAll('label')) {
        if (low(l.innerText) !== want) continue;
        const c = l.control || (l.htmlFor && document.getElementById(l.htmlFor));
        if (c) out.push(c);
      }
      for (const e of root.querySelectorAll('[aria-label]')) {
        if (low(e.getAttribute('aria-label')) === want) out.push(e);
      }
      return out;
    }
    if (sel.startsWith('css=')) sel = sel.slice(4);
    return Array.from(root.querySelectorAll(sel));
  }
  const one = (sel, root) => all(sel, root)[0] || null;
  const bodyText = () => low(document.body ? document.body.innerText : '');
  function has(texts) {
    const t = bodyText();
    for (const x of texts || []) if (x && t.includes(low(x))) return x;
    return '';
  }
  // point scrolls e into view and returns the centre to click.
  function point(e) {
    if (!e) return { ok: false };
    e.scrollIntoView({ block: 'center', inline: 'center' });
    const r = e.getBoundingClientRect();
    return { ok: r.width > 0 && r.height > 0, x: r.left + r.width / 2, y: r.top + r.height / 2 };
  }
  const cellText = (sel, row) => {
    const e = one(sel, row);
    return e ? e.textContent.trim() : '';
  };
  function rowFor(name, nth) {
    let n = 0;
    for (const r of all(P.files.row)) {
      if (cellText(P.files.name, r) !== name) continue;
      if (n++ === nth) return r;
    }
    return null;
  }
  function state() {
    const ex = P.session_expired || {};
    return {
      url: location.href,
      signedIn: !!one(P.login.signed_in),
      loginForm: !!one(P.login.password),
      rejected: has(P.login.rejected_text),
      expired: !!((ex.url_contains && location.href.includes(ex.url_contains)) || has(ex.text)),
      transient: has(P.transient_text),
      linkExpired: has(P.link_expired_text),
      empty: has(P.files.empty_text),
    };
  }
  function rows() {
    return {
      rows: all(P.files.row).map((r) => ({ name: cellText(P.files.name, r), size: cellText(P.files.size, r) })),
      next: !!one(P.files.next),
    };
  }
  switch (op) {
    case 'state':
      return state();
    case 'rows':
      return rows();
    case 'listing':
      // state and rows in one round trip, for a listing page just loaded.
      return { state: state(), listing: rows() };
    case 'point':
      return point(one(a.sel));
    case 'rowPoint': {
      const r = rowFor(a.name, a.nth);
      return point(r && one(P.files.download, r));
    }
    case 'rowClick': {
      // Find and click a row's download control in one round trip (the
      // evaluation runs as a user gesture). Only a control that is rendered
      // (has a size) is clicked, as with a mouse.
      const r = rowFor(a.name, a.nth);
      const e = r && one(P.files.download, r);
      if (!e) return { ok: false };
      const b = e.getBoundingClientRect();
      if (!(b.width > 0 && b.height > 0)) return { ok: false };
      e.click();
      return { ok: true };
    }
    case 'focus': {
      // Focus and empty a field, so typing replaces what is there.
      const e = one(a.sel);
      if (!e) return false;
      e.focus();
      e.value = '';
      return true;
    }
    case 'find':
      return one(a.sel);
    case 'text': {
      const e = one(a.sel);
      return { found: !!e, text: e ? norm(e.innerText).slice(0, 4000) : '' };
    }
    case 'redactedHTML': {
      // Page HTML for a debug bundle: every form value blanked.
      const d = document.documentElement.cloneNode(true);
      for (const e of d.querySelectorAll('input,textarea,select,option')) {
        if (e.hasAttribute('value')) e.setAttribute('value', '[redacted]');
        if (e.tagName === 'TEXTAREA') e.textContent = '[redacted]';
      }
      return '<!doctype html>\n' + d.outerHTML;
    }
    case 'probe': {
      // What an operator needs to write a profile; never any field value.
      const desc = (e) => ({
        tag: e.tagName.toLowerCase(), id: e.id || undefined, class: e.className || undefined,
        name: e.getAttribute('name') || undefined, type: e.getAttribute('type') || undefined,
        role: e.getAttribute('role') || undefined, text: norm(e.innerText || '').slice(0, 80) || undefined,
      });
      const labelOf = (e) => {
        if (e.labels && e.labels.length) return norm(e.labels[0].innerText);
        return e.getAttribute('aria-label') || undefined;
      };
      return {
        url: location.href, title: document.title,
        headings: Array.from(document.querySelectorAll('h1,h2,h3')).map((e) => norm(e.innerText).slice(0, 120)),
        forms: Array.from(document.forms).map((f) => ({
          id: f.id || undefined, method: (f.getAttribute('method') || 'get').toLowerCase(),
          action: f.getAttribute('action') || undefined, enctype: f.getAttribute('enctype') || undefined,
          inputs: Array.from(f.querySelectorAll('input,select,textarea')).map((e) => Object.assign(desc(e), { text: undefined, label: labelOf(e) })),
        })),
        buttons: Array.from(document.querySelectorAll('button,input[type=submit],input[type=button],[role=button]')).slice(0, 50).map(desc),
        links: Array.from(document.querySelectorAll('a[href]')).slice(0, 50).map((e) => Object.assign(desc(e), { href: e.getAttribute('href'), rel: e.getAttribute('rel') || undefined })),
        tables: Array.from(document.querySelectorAll('table')).map((t) => ({
          id: t.id || undefined, class: t.className || undefined,
          headers: Array.from(t.querySelectorAll('th')).map((e) => norm(e.innerText)),
          rows: t.querySelectorAll('tbody tr').length,
          rowClass: (t.querySelector('tbody tr') || {}).className || undefined,
          firstRow: Array.from((t.querySelector('tbody tr') || { children: [] }).children).map((c) => ({ tag: c.tagName.toLowerCase(), class: c.className || undefined })),
        })),
        lists: Array.from(document.querySelectorAll('ul[class],ol[class]')).map((l) => ({
          tag: l.tagName.toLowerCase(), class: l.className, items: l.children.length,
          firstItem: l.children[0] ? Array.from(l.children[0].querySelectorAll('*')).slice(0, 12).map((c) => ({ tag: c.tagName.toLowerCase(), class: c.className || undefined })) : [],
        })),
        alerts: Array.from(document.querySelectorAll('[role=alert],[role=status],.error,.alert,.notice')).map((e) => norm(e.innerText).slice(0, 200)),
      };
    }
  }
  throw new Error('unknown op ' + op);
})
