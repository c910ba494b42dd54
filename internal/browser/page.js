// The in-page half of the engine: it resolves locators, checks that an
// element can be acted on, and observes conditions until they hold. It
// reads pages and never writes to them, except what a user would do
// (click, tick, choose). Called as (FUNC)(config, op, args, caller): config
// is Options.PageConfig, caller is Options.PageScript (a function or
// undefined). Before each op, caller(E) may register its own ops with
// E.register(name, fn), using the helpers in E; an op not the engine's own
// goes to the registered fn(args). Returns JSON data, or a promise of it
// for the waiting ops. Nothing here knows what a page means.
(function (P, op, a, caller) {
  const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const low = (s) => norm(s).toLowerCase();
  const arr = (x) => (x == null ? [] : Array.isArray(x) ? x : [x]);

  // Implicit ARIA roles of common elements, for role= selectors.
  const implicit = {
    button: 'button,input[type=submit],input[type=button],input[type=reset],input[type=image],summary',
    link: 'a[href],area[href]',
    checkbox: 'input[type=checkbox]',
    radio: 'input[type=radio]',
    textbox: 'input:not([type]),input[type=text],input[type=email],input[type=tel],input[type=url],input[type=search],input[type=password],textarea',
    combobox: 'select',
    listbox: 'select[multiple]',
    option: 'option',
    heading: 'h1,h2,h3,h4,h5,h6',
    row: 'tr',
    cell: 'td',
    list: 'ul,ol',
    listitem: 'li',
    table: 'table',
    dialog: 'dialog',
    img: 'img[alt]',
    form: 'form',
    navigation: 'nav',
  };
  function textOf(e) {
    return e ? (e.innerText !== undefined ? e.innerText : e.textContent) : '';
  }
  // accName approximates the accessible name: what a screen reader says.
  function accName(e) {
    const by = e.getAttribute('aria-labelledby');
    if (by) return norm(by.split(/\s+/).map((id) => textOf(document.getElementById(id))).join(' '));
    const al = e.getAttribute('aria-label');
    if (al) return norm(al);
    if (e.labels && e.labels.length) return norm(Array.from(e.labels).map(textOf).join(' '));
    if (e.tagName === 'INPUT' && /^(submit|button|reset)$/i.test(e.type)) return norm(e.value);
    if (e.tagName === 'IMG') return norm(e.alt);
    const t = norm(textOf(e));
    return t || norm(e.getAttribute('title') || e.getAttribute('placeholder') || '');
  }
  // A label's own words, without the text of a control nested in it.
  const labelText = (l) => Array.from(l.childNodes)
    .filter((n) => !(n.nodeType === 1 && /^(SELECT|TEXTAREA|INPUT|BUTTON)$/.test(n.tagName)))
    .map((n) => n.textContent).join(' ');
  function labelled(want, root) {
    const out = [];
    for (const l of root.querySelectorAll('label')) {
      if (low(labelText(l)) !== want) continue;
      const c = l.control || (l.htmlFor && document.getElementById(l.htmlFor));
      if (c) out.push(c);
    }
    for (const e of root.querySelectorAll('[aria-label],[aria-labelledby]')) {
      if (!/^(LABEL)$/.test(e.tagName) && low(accName(e)) === want && !out.includes(e)) out.push(e);
    }
    return out;
  }
  // one resolves a single selector within root.
  function one(sel, root) {
    root = root || document;
    if (!sel) return [];
    if (sel.startsWith('frame=')) {
      // frame=IFRAME >> INNER: INNER inside the iframe's document. Only a
      // frame of this origin is readable here; the engine runs ops in any
      // other frame's own document (frames.go).
      const i = sel.indexOf(' >> ');
      if (i < 0) throw new SyntaxError('bad frame selector ' + sel + ': frame=IFRAME >> INNER');
      const out = [];
      for (const f of one(sel.slice(6, i).trim(), root)) {
        let d = null;
        try { d = f.contentDocument; } catch (err) { d = null; }
        if (d) out.push(...one(sel.slice(i + 4).trim(), d));
      }
      return out;
    }
    if (sel.startsWith('text=')) {
      const want = low(sel.slice(5));
      const c = root.querySelectorAll('button,a,input[type=submit],input[type=button],[role=button],[role=link],[role=tab],[role=menuitem],summary');
      return Array.from(c).filter((e) => low(textOf(e) || e.value || e.getAttribute('aria-label')) === want);
    }
    if (sel.startsWith('label=')) return labelled(low(sel.slice(6)), root);
    if (sel.startsWith('role=')) {
      const m = /^role=([a-z]+)(?:\[name=(?:"([^"]*)"|'([^']*)')\])?$/.exec(sel);
      if (!m) throw new SyntaxError('bad role selector ' + sel);
      const role = m[1], name = m[2] !== undefined ? m[2] : m[3];
      const q = '[role=' + role + ']' + (implicit[role] ? ',' + implicit[role] : '');
      return Array.from(root.querySelectorAll(q)).filter((e) => {
        const r = e.getAttribute('role');
        if (r && r !== role) return false;
        return name === undefined || low(accName(e)) === low(name);
      });
    }
    if (sel.startsWith('xpath=')) {
      const r = document.evaluate(sel.slice(6), root, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
      const out = [];
      for (let i = 0; i < r.snapshotLength; i++) if (r.snapshotItem(i).nodeType === 1) out.push(r.snapshotItem(i));
      return out;
    }
    if (sel.startsWith('css=')) sel = sel.slice(4);
    return Array.from(root.querySelectorAll(sel));
  }
  // all resolves a target (a selector or alternatives in order): the
  // elements of the first alternative that matches any, and its index.
  function all(target, root, pred) {
    const alts = arr(target);
    for (let i = 0; i < alts.length; i++) {
      let els = one(alts[i], root);
      if (pred) els = els.filter(pred);
      if (els.length) return { els, alt: i };
    }
    return { els: [], alt: -1 };
  }
  const first = (target, root) => all(target, root).els[0] || null;
  function visible(e) {
    if (!e || !e.isConnected) return false;
    const r = e.getBoundingClientRect();
    if (!(r.width > 0 && r.height > 0)) return false;
    const cs = getComputedStyle(e);
    return cs.visibility !== 'hidden' && cs.display !== 'none' && Number(cs.opacity) !== 0;
  }
  const visibleFirst = (target, root) => all(target, root, visible).els[0] || null;
  const enabled = (e) => !(e.disabled || e.getAttribute('aria-disabled') === 'true' || (e.closest && e.closest('fieldset[disabled]')));
  // why tells what keeps e from being clicked like a person would: '' when
  // nothing does. Stable means no animation is running in the document.
  function why(e, need) {
    if (!e || !e.isConnected) return 'not attached';
    if (need === 'attached') return '';
    if (!visible(e)) return 'not visible';
    if (need === 'visible') return '';
    if (!enabled(e)) return 'disabled';
    if (need === 'fill' && (e.readOnly || !(e.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(e.tagName)))) return 'not editable';
    if (document.getAnimations && document.getAnimations().some((x) => x.playState === 'running')) return 'moving';
    e.scrollIntoView({ block: 'center', inline: 'center' });
    const r = e.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    const top = e.ownerDocument.elementFromPoint(x, y);
    if (top && top !== e && !e.contains(top) && !(top.tagName === 'LABEL' && top.control === e)) {
      if (!(e.labels && Array.from(e.labels).some((l) => l.contains(top)))) return 'covered by ' + top.tagName.toLowerCase();
    }
    return '';
  }
  const bodyText = () => low(document.body ? document.body.innerText : '');
  function has(texts) {
    const t = bodyText();
    for (const x of arr(texts)) if (x && t.includes(low(x))) return x;
    return '';
  }
  // waitFor resolves once check() gives a value with .ok (or at the
  // deadline with the last value): on every DOM change, and every 100 ms
  // for changes no mutation shows (layout, animations).
  // check gets how long the page has been quiet (no DOM change), so that
  // weak evidence (an element a script may be about to replace) counts
  // only once the page has settled.
  function waitFor(check, ms) {
    return new Promise((resolve) => {
      let done = false, obs = null, iv = null, to = null, changed = Date.now();
      const quiet = () => Date.now() - changed;
      const finish = (v) => {
        if (done) return;
        done = true;
        if (obs) obs.disconnect();
        clearInterval(iv);
        clearTimeout(to);
        resolve(v);
      };
      const tick = () => {
        let v;
        try { v = check(quiet()); } catch (err) { finish({ ok: false, error: String(err && err.message || err) }); return; }
        if (v.ok) finish(v);
        return v;
      };
      const v0 = tick();
      if (done) return;
      obs = new MutationObserver(() => { changed = Date.now(); tick(); });
      obs.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
      iv = setInterval(tick, 100);
      to = setTimeout(() => finish(tick() || v0), Math.max(0, ms || 0));
    });
  }
  // frameBox is where the content of an iframe element starts in its
  // document's viewport.
  function frameBox(f) {
    const r = f.getBoundingClientRect(), cs = getComputedStyle(f);
    return { x: r.left + f.clientLeft + parseFloat(cs.paddingLeft || 0), y: r.top + f.clientTop + parseFloat(cs.paddingTop || 0) };
  }
  // point is where to click e, in the top viewport of this evaluation: an
  // element inside same-origin frames is offset by each frame's box.
  function point(e) {
    const r = e.getBoundingClientRect();
    let x = r.left + r.width / 2, y = r.top + r.height / 2;
    for (let w = e.ownerDocument.defaultView; w && w !== window && w.frameElement; w = w.parent) {
      const b = frameBox(w.frameElement);
      x += b.x;
      y += b.y;
    }
    return { x, y };
  }
  // locate waits for target to be ready for need (click, fill, attached,
  // visible) and answers where to click it.
  function locate(target, need, ms, root) {
    return waitFor(() => {
      const { els, alt } = all(target, root);
      if (!els.length) return { ok: false, why: 'not found', alt };
      let w = '';
      for (const e of els) {
        w = why(e, need);
        if (!w) return Object.assign({ ok: true, alt, count: els.length }, need === 'attached' ? {} : point(e));
      }
      return { ok: false, why: w, alt, count: els.length };
    }, ms);
  }

  // The engine's own ops; a caller may not register these names.
  const own = ['locate', 'waitCond', 'act', 'validate', 'find', 'text', 'redactedHTML', 'probe', 'frameOffset'];
  const ops = {};
  if (caller) {
    caller({
      P, norm, low, arr, textOf, one, all, first, visible, visibleFirst, enabled, why, has, waitFor, locate,
      register(name, fn) {
        if (own.includes(name) || Object.prototype.hasOwnProperty.call(ops, name)) throw new Error('op ' + name + ' registered twice');
        ops[name] = fn;
      },
    });
  }
  if (Object.prototype.hasOwnProperty.call(ops, op)) return ops[op](a);

  switch (op) {
    case 'locate':
      return locate(a.sel, a.need, a.ms);
    case 'waitCond':
      return waitFor(() => {
        let ok = true;
        if (a.sel && arr(a.sel).length) ok = ok && !!visibleFirst(a.sel);
        if (a.text && a.text.length) ok = ok && !!has(a.text);
        if (a.url) ok = ok && location.href.includes(a.url);
        return { ok, url: location.href };
      }, a.ms);
    case 'act': {
      // A step's action on the element locate found ready.
      const e = first(a.sel);
      if (!e) return { ok: false, why: 'not found' };
      if (a.do === 'focusClear') {
        e.focus();
        if ('value' in e) e.value = '';
        return { ok: document.activeElement === e };
      }
      if (a.do === 'check') {
        if (!e.checked) e.click();
        return { ok: !!e.checked };
      }
      if (a.do === 'select') {
        const want = low(a.value);
        const o = Array.from(e.options || []).find((o) => low(o.textContent) === want || low(o.value) === want);
        if (!o) return { ok: false, why: 'no option ' + a.value };
        e.value = o.value;
        e.dispatchEvent(new Event('input', { bubbles: true }));
        e.dispatchEvent(new Event('change', { bubbles: true }));
        return { ok: true };
      }
      if (a.do === 'focus') {
        e.focus();
        return { ok: true };
      }
      return { ok: false, why: 'unknown action' };
    }
    case 'validate': {
      // Selectors the browser cannot parse, named by profile field.
      const bad = {};
      for (const [k, t] of Object.entries(a.sels)) {
        for (const s of arr(t)) {
          try { one(s, document); } catch (err) { bad[k] = s + ': ' + String(err && err.message || err); }
        }
      }
      return bad;
    }
    case 'find':
      return first(a.sel);
    case 'frameOffset': {
      const f = first(a.sel);
      return f ? Object.assign({ ok: true }, frameBox(f)) : { ok: false };
    }
    case 'text': {
      const e = first(a.sel);
      return { found: !!e, text: e ? norm(textOf(e)).slice(0, 4000) : '' };
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
        tag: e.tagName.toLowerCase(), id: e.id || undefined, class: (typeof e.className === 'string' && e.className) || undefined,
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
