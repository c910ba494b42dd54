package sim

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"html/template"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Markup v4 is a file-transfer product of the kind real portals buy: the
// v1 sign-in, then a table (with a header row and numbered page links)
// whose rows each download in one of three ways. Most rows open an
// interstitial page in a new tab that starts the file a moment later by a
// meta refresh; some must be prepared first ("Request", progress in the
// row, then a one-time link that expires); some are listed as expired with
// no control at all. It exists so the bot's engine is proved against
// downloads that come later, elsewhere, or never. docs/seftsim.md is the
// contract.

// V4Options shape markup v4. The zero value is usable.
type V4Options struct {
	// InterstitialDelay is how long the interstitial page waits before its
	// meta refresh starts the file; 0 = 2s. Whole seconds are what a meta
	// refresh can say, so a shorter delay is drawn as a script timer.
	InterstitialDelay time.Duration
	// PrepareEvery: every n-th file (by ID) must be requested and prepared
	// before it can be downloaded; 0 = none.
	PrepareEvery int
	// ExpiredEvery: every n-th file (by ID) is listed as expired, with no
	// download control; 0 = none. It wins over PrepareEvery.
	ExpiredEvery int
	// PrepareTime is how long preparing a file takes; 0 = 1–3 s at random.
	PrepareTime time.Duration
	// LinkLifetime is how long a prepared link works (once), on seftsim's
	// clock (admin advance-clock moves past it); 0 = 60s.
	LinkLifetime time.Duration
	// SwapTwins is a fault: listings of the page that holds files 1 and 2
	// (which in v4 always have the same size) give each of the two rows the
	// other's link, until n such links have been used.
	SwapTwins int
	// SpoilLinks is a fault: the next n prepared links are answered as
	// expired when used, as a link that outlived its lifetime would be.
	SpoilLinks int
	// Frame puts the file list in an iframe: "same" (same origin) or
	// "cross" (another site, out of process in Chromium); "" = no frame.
	Frame string
	// IdP signs in through an identity provider on another site
	// (v4away.go) instead of the v1 form.
	IdP bool
}

const (
	v4DefaultDelay    = 2 * time.Second
	v4DefaultLifetime = time.Minute
	v4Expired         = "Expired"
	v4Gone            = "This link has expired."
)

func (o *V4Options) normalise(markup string) error {
	if markup != "v4" {
		if *o != (V4Options{}) {
			return fmt.Errorf("v4 options given with markup %s: they only apply to markup v4", markup)
		}
		return nil
	}
	if o.InterstitialDelay == 0 {
		o.InterstitialDelay = v4DefaultDelay
	}
	if o.LinkLifetime == 0 {
		o.LinkLifetime = v4DefaultLifetime
	}
	switch {
	case o.InterstitialDelay < 0 || o.InterstitialDelay > maxDelay:
		return fmt.Errorf("interstitial delay must be between 0 and %s, not %s", maxDelay, o.InterstitialDelay)
	case o.PrepareTime < 0 || o.PrepareTime > maxDelay:
		return fmt.Errorf("prepare time must be between 0 and %s, not %s", maxDelay, o.PrepareTime)
	case o.LinkLifetime < 0:
		return fmt.Errorf("link lifetime must be positive, not %s", o.LinkLifetime)
	case o.PrepareEvery < 0 || o.ExpiredEvery < 0 || o.SwapTwins < 0 || o.SpoilLinks < 0:
		return fmt.Errorf("v4: prepare-every, expired-every, swap-twins and spoil-links must not be negative")
	}
	return nil
}

// V4State is what the admin state shows of markup v4.
type V4State struct {
	Interstitials int      `json:"interstitials"` // interstitial pages shown
	Prepares      int      `json:"prepares"`      // Request presses accepted
	LinksSpent    int      `json:"links_spent"`   // prepared links used (once each)
	LinksRefused  int      `json:"links_refused"` // spent, expired or unknown links asked for
	LinksSpoiled  int      `json:"links_spoiled"` // links the SpoilLinks fault refused
	MaxPreparing  int      `json:"max_preparing"` // most files being prepared at one time
	Swapped       int      `json:"swapped"`       // listings whose twin links were swapped
	SwappedSpent  int      `json:"swapped_spent"` // swapped links used
	SwapsLeft     int      `json:"swaps_left"`    // what is left of the SwapTwins fault
	Expired       []string `json:"expired"`       // names listed as expired now
	Prepare       []string `json:"prepare"`       // names that must be prepared
	Interstitial  []string `json:"interstitial"`  // names downloaded through the interstitial
	FrameLoads    int      `json:"frame_loads"`   // list pages served inside the frame
	FrameTokens   int      `json:"frame_tokens"`  // cross-site frame tokens spent for a cookie
	FrameRefused  int      `json:"frame_refused"` // spent, expired or unknown frame tokens
	IdPSignIns    int      `json:"idp_sign_ins"`  // portal sessions made from an IdP code
	IdPSkipped    int      `json:"idp_skipped"`   // IdP sign-ins answered from an existing IdP session
	CodesIssued   int      `json:"codes_issued"`  // one-time codes the IdP gave
	CodesRefused  int      `json:"codes_refused"` // codes (or states) the portal refused
	Options       struct {
		Frame             string `json:"frame"` // "", "same" or "cross"
		IdP               bool   `json:"idp"`
		InterstitialDelay string `json:"interstitial_delay"`
		PrepareTime       string `json:"prepare_time"` // "" = 1–3 s at random
		LinkLifetime      string `json:"link_lifetime"`
	} `json:"options"`
}

// v4State is v4's own bookkeeping, under Sim.mu.
type v4State struct {
	st        V4State
	swapsLeft int
	spoilLeft int
	preps     map[string]*v4Prep // listing ref -> preparation
	swapped   map[string]bool    // tokens the swap fault gave to the other twin
	links     map[string]*v4Link // prepared link -> file
	rng       *mrand.Rand
	away      awayState // frame and IdP options (v4away.go)
}

type v4Prep struct {
	session string
	file    int
	ready   time.Time // real time
	link    string    // set once made
}

type v4Link struct {
	session string
	file    int
	until   time.Time // seftsim's clock, so a test can move past it
}

func newV4State(o Options) *v4State {
	return &v4State{swapsLeft: o.V4.SwapTwins, spoilLeft: o.V4.SpoilLinks, preps: map[string]*v4Prep{}, links: map[string]*v4Link{}, swapped: map[string]bool{},
		away: newAwayState(), rng: mrand.New(mrand.NewPCG(uint64(o.Seed), 0x0f4))}
}

// Row kinds of v4, by file ID.
const (
	v4KindInterstitial = "interstitial"
	v4KindPrepare      = "prepare"
	v4KindExpired      = "expired"
)

func (s *Sim) v4Kind(id int) string {
	o := s.opts.V4
	switch {
	case o.ExpiredEvery > 0 && id%o.ExpiredEvery == 0:
		return v4KindExpired
	case o.PrepareEvery > 0 && id%o.PrepareEvery == 0:
		return v4KindPrepare
	}
	return v4KindInterstitial
}

// v4SizeID is the ID whose size a file takes: in v4 files 2k and 2k-1 are
// twins of equal size, so that a swap of their links is not caught by size.
func v4SizeID(markup string, id int) int {
	if markup == "v4" && id%2 == 0 {
		return id - 1
	}
	return id
}

func (s *Sim) v4Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /download/files", s.v4Files)
	mux.HandleFunc("POST /download/get", s.v4Interstitial)
	mux.HandleFunc("GET /download/file/{ticket}/{name}", s.v4File)
	mux.HandleFunc("POST /download/prepare", s.v4Prepare)
	mux.HandleFunc("GET /download/prepared", s.v4Prepared)
	mux.HandleFunc("GET /download/ready/{link}/{name}", s.v4Ready)
	s.v4AwayRoutes(mux)
}

type v4Row struct {
	Name, Kind, Token string
	Size              int64
}

type v4Page struct {
	Rows         []v4Row
	Page, Pages  int
	Numbers      []int
	Delay        int // ms
	Empty        bool
	SignedInUser string
	Framed       bool   // the list inside the frame: no header of its own
	Pager        string // the page links' path: files, or list in a frame
}

var v4Tmpl = template.Must(template.New("v4").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Transfers - SEFT</title></head>
<body>
{{if not .Framed}}<header><p class="service">Secure Electronic File Transfer</p><a id="sign-out" href="logout">Sign out</a></header>
{{end}}<main>
{{if not .Framed}}<h1>Transfers</h1>
{{end}}{{if .Empty}}<p class="empty">There are no files available.</p>
{{else}}<table id="transfers">
 <tr><th>Name</th><th>Bytes</th><th>Status</th><th>Action</th></tr>
{{range .Rows}} <tr class="transfer" data-kind="{{.Kind}}">
  <td class="name">{{.Name}}</td>
  <td class="bytes">{{.Size}}</td>
{{- if eq .Kind "expired"}}
  <td class="status">Expired</td>
  <td></td>
{{- else if eq .Kind "prepare"}}
  <td class="status">Not prepared</td>
  <td class="action"><button type="button" class="request" data-ref="{{.Token}}">Request</button></td>
{{- else}}
  <td class="status">Ready</td>
  <td class="action"><form method="post" action="/download/get" target="_blank"><input type="hidden" name="t" value="{{.Token}}"><button type="submit" class="download">Download</button></form></td>
{{- end}}
 </tr>
{{end}}</table>
<p class="pages">{{$cur := .Page}}{{range .Numbers}}{{if eq . $cur}}<b>{{.}}</b> {{else}}<a href="{{$.Pager}}?page={{.}}">{{.}}</a> {{end}}{{end}}</p>
{{end}}</main>
<script>
document.addEventListener('click', async (ev) => {
  const b = ev.target.closest('button.request');
  if (!b) return;
  const tr = b.closest('tr'), status = tr.querySelector('.status'), cell = b.parentElement;
  b.disabled = true;
  const r = await fetch('/download/prepare', {method: 'POST', body: new URLSearchParams({ref: b.dataset.ref})});
  if (!r.ok) { status.textContent = (await r.json()).message; b.disabled = false; return; }
  status.innerHTML = '<progress></progress> Preparing';
  for (;;) {
    await new Promise((ok) => setTimeout(ok, 250));
    const p = await fetch('/download/prepared?ref=' + encodeURIComponent(b.dataset.ref));
    const v = await p.json();
    if (!p.ok) { status.textContent = v.message; return; }
    if (v.url) {
      status.textContent = 'Ready';
      const a = document.createElement('a');
      a.className = 'fetch'; a.href = v.url; a.textContent = 'Download';
      cell.replaceChildren(a);
      return;
    }
  }
});
</script>
</body>
</html>
`))

var v4Wait = template.Must(template.New("wait").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8">{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}};url={{.URL}}">{{end}}<title>Preparing your download - SEFT</title></head>
<body>
<main>
<h1>Your download will start shortly</h1>
<p class="message">If it does not start, <a id="start-now" href="{{.URL}}">start it now</a>.</p>
</main>
{{if not .Refresh}}<script>setTimeout(() => { location.href = {{.URL}}; }, {{.Ms}});</script>{{end}}
</body>
</html>
`))

func (s *Sim) v4Files(w http.ResponseWriter, r *http.Request) {
	ss := s.signedIn(w, r, siteDownload)
	if ss == nil {
		return
	}
	framed := s.opts.V4.Frame != ""
	if framed && r.URL.Path == "/download/files" {
		s.v4FrameShell(w, r, ss)
		return
	}
	n := 1
	if v := r.URL.Query().Get("page"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			s.renderStatus(w, http.StatusBadRequest, "Bad request", "That page does not exist.")
			return
		}
	}
	size := s.opts.PageSize
	s.mu.Lock()
	pages := max(1, (len(s.files)+size-1)/size)
	n = min(n, pages)
	p := v4Page{Page: n, Pages: pages, Empty: len(s.files) == 0, Framed: framed, Pager: "files"}
	if framed {
		p.Pager = "list"
		s.v4.st.FrameLoads++
	}
	twins := map[int]int{} // file ID -> row index, for the swap fault
	for _, f := range s.files[min((n-1)*size, len(s.files)):min(n*size, len(s.files))] {
		row := v4Row{Name: f.Name, Size: f.Size, Kind: s.v4Kind(f.ID)}
		if row.Kind != v4KindExpired {
			row.Token = rand.Text()
			ss.tokens[row.Token] = f.ID
		}
		if f.ID == 1 || f.ID == 2 {
			twins[f.ID] = len(p.Rows)
		}
		p.Rows = append(p.Rows, row)
	}
	if i, j, ok := twinRows(twins); ok && s.v4.swapsLeft > 0 && p.Rows[i].Kind == p.Rows[j].Kind && p.Rows[i].Token != "" {
		p.Rows[i].Token, p.Rows[j].Token = p.Rows[j].Token, p.Rows[i].Token
		if len(s.v4.swapped) > 1000 {
			clear(s.v4.swapped) // listings nobody clicked; bounded
		}
		s.v4.swapped[p.Rows[i].Token], s.v4.swapped[p.Rows[j].Token] = true, true
		s.v4.st.Swapped++
		s.log.Info("v4: twin links swapped by fault")
	}
	s.mu.Unlock()
	for i := 1; i <= pages; i++ {
		p.Numbers = append(p.Numbers, i)
	}
	var buf bytes.Buffer
	if err := v4Tmpl.Execute(&buf, p); err != nil {
		s.log.Error("template", "name", "v4 files", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

func twinRows(m map[int]int) (int, int, bool) {
	i, ok1 := m[1]
	j, ok2 := m[2]
	return i, j, ok1 && ok2
}

// v4Interstitial answers a row's Download (in a new tab): the token is
// spent, a one-time ticket made, and a page shown that starts the file
// after the delay.
func (s *Sim) v4Interstitial(w http.ResponseWriter, r *http.Request) {
	ss := s.signedIn(w, r, siteDownload)
	if ss == nil {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderStatus(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	tok := r.PostForm.Get("t")
	s.mu.Lock()
	id, f := s.spendLocked(ss.tokens, tok)
	var ticket string
	if s.v4.swapped[tok] {
		delete(s.v4.swapped, tok)
		s.v4.swapsLeft = max(0, s.v4.swapsLeft-1)
		s.v4.st.SwappedSpent++
	}
	if f != nil && s.v4Kind(id) == v4KindInterstitial {
		ticket = rand.Text()
		ss.tickets[ticket] = id
		s.v4.st.Interstitials++
	}
	s.mu.Unlock()
	if ticket == "" {
		s.renderStatus(w, http.StatusGone, "Link expired", v4Gone)
		return
	}
	d := s.opts.V4.InterstitialDelay
	v := map[string]any{"URL": "/download/file/" + ticket + "/" + pctEncode(f.Name), "Ms": d.Milliseconds()}
	if d%time.Second == 0 {
		v["Refresh"] = int(d / time.Second)
	}
	var buf bytes.Buffer
	if err := v4Wait.Execute(&buf, v); err != nil {
		s.log.Error("template", "name", "v4 wait", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

// v4File sends the file an interstitial's ticket names, once.
func (s *Sim) v4File(w http.ResponseWriter, r *http.Request) {
	ss := s.signedIn(w, r, siteDownload)
	if ss == nil {
		return
	}
	s.sendOrGone(w, r, s.spend(ss.tickets, r.PathValue("ticket")), v4Gone)
}

// v4Prepare starts preparing a row's file (the Request button's fetch).
func (s *Sim) v4Prepare(w http.ResponseWriter, r *http.Request) {
	ss := s.v4Session(w, r)
	if ss == nil {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		apiError(w, http.StatusBadRequest, "bad-request", "The request could not be read.")
		return
	}
	ref := r.PostForm.Get("ref")
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := ss.tokens[ref]
	if !ok || s.listedLocked(id) == nil || s.v4Kind(id) != v4KindPrepare || s.v4.preps[ref] != nil {
		apiError(w, http.StatusGone, "gone", v4Gone)
		return
	}
	s.v4.pruneLocked(s.opts.V4.LinkLifetime, s.nowLocked())
	d := s.opts.V4.PrepareTime
	if d == 0 {
		d = time.Second + time.Duration(s.v4.rng.Int64N(int64(2*time.Second)))
	}
	now := time.Now()
	s.v4.preps[ref] = &v4Prep{session: ss.id, file: id, ready: now.Add(d)}
	s.v4.st.Prepares++
	preparing := 0
	for _, p := range s.v4.preps {
		if p.ready.After(now) {
			preparing++
		}
	}
	s.v4.st.MaxPreparing = max(s.v4.st.MaxPreparing, preparing)
	writeJSON(w, http.StatusAccepted, map[string]string{"state": "preparing"})
}

// pruneLocked forgets preparations and links whose lifetime is over, so
// neither map grows without bound.
func (v *v4State) pruneLocked(lifetime time.Duration, clock time.Time) {
	now := time.Now()
	for ref, p := range v.preps {
		if now.After(p.ready.Add(lifetime)) {
			delete(v.preps, ref)
		}
	}
	for k, l := range v.links {
		if clock.After(l.until) {
			delete(v.links, k)
		}
	}
}

// v4Prepared answers the row's polling: nothing yet, or the one-time link.
func (s *Sim) v4Prepared(w http.ResponseWriter, r *http.Request) {
	ss := s.v4Session(w, r)
	if ss == nil {
		return
	}
	ref := r.URL.Query().Get("ref")
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.v4.preps[ref]
	f := (*File)(nil)
	if p != nil {
		f = s.listedLocked(p.file)
	}
	switch {
	case p == nil || p.session != ss.id || f == nil:
		apiError(w, http.StatusGone, "gone", v4Gone)
	case time.Now().Before(p.ready):
		writeJSON(w, http.StatusOK, map[string]string{"state": "preparing"})
	default:
		if p.link == "" {
			p.link = rand.Text()
			s.v4.links[p.link] = &v4Link{session: ss.id, file: p.file, until: s.nowLocked().Add(s.opts.V4.LinkLifetime)}
			delete(ss.tokens, ref) // the row's request is used up
		}
		writeJSON(w, http.StatusOK, map[string]string{"state": "ready", "url": "/download/ready/" + p.link + "/" + pctEncode(f.Name)})
	}
}

// v4Ready sends a prepared file: once, before the link expires.
func (s *Sim) v4Ready(w http.ResponseWriter, r *http.Request) {
	ss := s.signedIn(w, r, siteDownload)
	if ss == nil {
		return
	}
	link := r.PathValue("link")
	s.mu.Lock()
	l := s.v4.links[link]
	delete(s.v4.links, link)
	var f *File
	if l != nil && l.session == ss.id && s.nowLocked().Before(l.until) {
		f = s.listedLocked(l.file)
	}
	if f != nil && s.v4.spoilLeft > 0 {
		s.v4.spoilLeft--
		s.v4.st.LinksSpoiled++
		f = nil
	}
	if f == nil {
		s.v4.st.LinksRefused++
	} else {
		s.v4.st.LinksSpent++
	}
	s.mu.Unlock()
	if f == nil {
		s.renderStatus(w, http.StatusGone, "Link expired", v4Gone)
		return
	}
	s.send(w, r, f)
}

// v4Session is the signed-in session of a script's request, or a JSON 401.
func (s *Sim) v4Session(w http.ResponseWriter, r *http.Request) *session {
	s.mu.Lock()
	ss, _ := s.sessionLocked(r, siteDownload)
	s.mu.Unlock()
	if ss == nil || ss.account == "" {
		apiError(w, http.StatusUnauthorized, "signed-out", msgExpired)
		return nil
	}
	return ss
}

// v4StateLocked is the admin view of v4; nil for other markups.
func (s *Sim) v4StateLocked() *V4State {
	if s.v4 == nil {
		return nil
	}
	st := s.v4.st
	st.SwapsLeft = s.v4.swapsLeft
	st.Expired, st.Prepare, st.Interstitial = []string{}, []string{}, []string{}
	for _, f := range s.files {
		switch s.v4Kind(f.ID) {
		case v4KindExpired:
			st.Expired = append(st.Expired, f.Name)
		case v4KindPrepare:
			st.Prepare = append(st.Prepare, f.Name)
		default:
			st.Interstitial = append(st.Interstitial, f.Name)
		}
	}
	o := s.opts.V4
	st.Options.InterstitialDelay = o.InterstitialDelay.String()
	if o.PrepareTime > 0 {
		st.Options.PrepareTime = o.PrepareTime.String()
	}
	st.Options.LinkLifetime = o.LinkLifetime.String()
	st.Options.Frame, st.Options.IdP = o.Frame, o.IdP
	return &st
}

func init() {
	markups["v4"] = markups["v1"] // the v1 sign-in, error pages and upload site
}
