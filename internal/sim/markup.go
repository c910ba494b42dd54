package sim

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
)

// Two markups of the same site: v1 is the one docs/seftsim.md shows and the
// bot's default profile is written from; v2 exists to prove that a profile
// change, with no code change, retargets the bot.
const layout = `{{define "top"}}<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.Title}} - SEFT</title></head>
<body>
<header><p class="service">Secure Electronic File Transfer</p>{{if .SignedIn}}{{template "signout" .}}{{end}}</header>
<main>
{{end}}
{{define "bottom"}}</main>
</body>
</html>
{{end}}
{{define "renew"}}{{template "top" .}}<h1>Password expired</h1>
<p class="message" role="alert">Your password has expired. Choose a new password.</p>
<form id="change-password-form" method="post" action="{{.Action}}">
  <input type="hidden" name="csrf_token" value="{{.CSRF}}">
  <label for="current-password">Current password</label> <input id="current-password" name="current_password" type="password">
  <label for="new-password">New password</label> <input id="new-password" name="new_password" type="password">
  <button type="submit" id="change-password">Change password</button>
</form>
{{template "bottom" .}}{{end}}
{{define "status"}}{{template "top" .}}<h1>{{.Heading}}</h1>
<p class="message">{{.Text}}</p>
{{template "bottom" .}}{{end}}`

const markupV1 = `{{define "signout"}}<a id="sign-out" href="logout">Sign out</a>{{end}}
{{define "login"}}{{template "top" .}}<h1>Sign in</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>
{{end}}{{if .Notice}}<p class="notice" role="status">{{.Notice}}</p>
{{end}}<form id="login-form" method="post" action="{{.Action}}">
  <input type="hidden" name="csrf_token" value="{{.CSRF}}">
  <label for="username">User name</label> <input id="username" name="username" type="text">
  <label for="password">Password</label> <input id="password" name="password" type="password">
  <button type="submit" id="sign-in">Sign in</button>
</form>
{{template "bottom" .}}{{end}}
{{define "files"}}{{template "top" .}}<h1>Your files</h1>
{{if .Rows}}<table id="files">
 <thead><tr><th>File name</th><th>Size</th><th>Date</th><th>Action</th></tr></thead>
 <tbody>
{{range .Rows}}  <tr class="file-row">
   <td class="file-name">{{.Name}}</td>
   <td class="file-size">{{.SizeText}} bytes</td>
   <td class="file-date">{{.Date}}</td>
   <td><form method="post" action="/download/fetch">
         <input type="hidden" name="token" value="{{.Token}}">
         <button type="submit" class="download">Download</button></form></td>
  </tr>
{{end}} </tbody>
</table>
<p class="pager">{{if .Prev}}<a class="prev" rel="prev" href="files?page={{.Prev}}">Previous</a> {{end}}Page {{.Page}} of {{.Pages}}{{if .Next}} <a class="next" rel="next" href="files?page={{.Next}}">Next</a>{{end}}</p>
{{else}}<p class="empty">There are no files available.</p>
{{end}}{{template "bottom" .}}{{end}}
{{define "upload"}}{{template "top" .}}<h1>Upload a file</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>
{{end}}<form id="upload-form" method="post" action="/upload/submit" enctype="multipart/form-data">
  <input type="hidden" name="csrf_token" value="{{.CSRF}}">
  <label for="file">File to upload</label> <input type="file" id="file" name="file">
  <button type="submit" id="upload">Upload</button>
</form>
{{template "bottom" .}}{{end}}
{{define "received"}}{{template "top" .}}<p id="received" role="status">Your file has been received.</p>
{{template "bottom" .}}{{end}}`

const markupV2 = `{{define "signout"}}<a class="logout" href="logout">Log out</a>{{end}}
{{define "login"}}{{template "top" .}}<h2>SEFT login</h2>
{{if .Error}}<div class="alert alert-danger">{{.Error}}</div>
{{end}}{{if .Notice}}<div class="alert alert-info">{{.Notice}}</div>
{{end}}<form class="login" method="post" action="{{.Action}}">
  <input type="hidden" name="csrf_token" value="{{.CSRF}}">
  <div class="field"><label for="user">Username</label><input id="user" name="user" type="text"></div>
  <div class="field"><label for="pass">Password</label><input id="pass" name="pass" type="password"></div>
  <button type="submit" class="btn btn-primary">Log in</button>
</form>
{{template "bottom" .}}{{end}}
{{define "files"}}{{template "top" .}}<h2>Downloads</h2>
{{if .Rows}}<ul class="downloads">
{{range .Rows}} <li class="item"><span class="name">{{.Name}}</span> <span class="bytes">{{.Size}}</span> <span class="when">{{.Date}}</span>
  <form method="post" action="/download/fetch" target="_blank"><input type="hidden" name="token" value="{{.Token}}"><button type="submit" class="get">Get file</button></form></li>
{{end}}</ul>
<div class="pager"><span class="page-info">{{.Page}} / {{.Pages}}</span>{{if .Next}}
  <form method="get" action="files"><input type="hidden" name="page" value="{{.Next}}"><button type="submit" class="pager-next">Next page</button></form>{{end}}</div>
{{else}}<div class="empty-state">No downloads available.</div>
{{end}}{{template "bottom" .}}{{end}}
{{define "upload"}}{{template "top" .}}<h2>Send a file</h2>
{{if .Error}}<div class="alert alert-danger">{{.Error}}</div>
{{end}}<form class="upload" method="post" action="/upload/submit" enctype="multipart/form-data">
  <input type="hidden" name="csrf_token" value="{{.CSRF}}">
  <div class="field"><label for="attachment">Attachment</label><input type="file" id="attachment" name="attachment"></div>
  <button type="submit" class="btn btn-primary send">Send file</button>
</form>
{{template "bottom" .}}{{end}}
{{define "received"}}{{template "top" .}}<div class="alert alert-success">Your file has been received.</div>
{{template "bottom" .}}{{end}}`

// markup is one way of rendering the portal, plus the form field names it uses.
type markup struct {
	tmpl                 *template.Template
	userField, passField string
	uploadField          string
}

var markups = map[string]*markup{
	"v1": {tmpl: template.Must(template.Must(template.New("v1").Parse(layout)).Parse(markupV1)),
		userField: "username", passField: "password", uploadField: "file"},
	"v2": {tmpl: template.Must(template.Must(template.New("v2").Parse(layout)).Parse(markupV2)),
		userField: "user", passField: "pass", uploadField: "attachment"},
	// v3's pages are drawn by script (v3.go); only error pages use templates.
	"v3": {tmpl: template.Must(template.Must(template.New("v3").Parse(layout)).Parse(`{{define "signout"}}{{end}}`)),
		userField: "account", passField: "passphrase", uploadField: "cohort"},
}

// page is everything a template may show.
type page struct {
	Title    string
	SignedIn bool
	// login, upload
	Action, CSRF, Error, Notice string
	// files
	Rows          []row
	Page, Pages   int
	Prev, Next    int
	Heading, Text string // status pages
}

type row struct {
	Name, SizeText, Date, Token string
	Size                        int64
}

// render writes a page. Templates are fixed, so an execution error is a bug
// in seftsim; it is logged and answered with a bare 500.
func (s *Sim) render(w http.ResponseWriter, status int, name string, p page) {
	var buf bytes.Buffer
	if err := s.markup().tmpl.ExecuteTemplate(&buf, name, p); err != nil {
		s.log.Error("template", "name", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Sim) renderStatus(w http.ResponseWriter, status int, heading, text string) {
	s.render(w, status, "status", page{Title: heading, Heading: heading, Text: text})
}

func (s *Sim) markup() *markup { return markups[s.opts.Markup] }

// thousands formats n as 1,048,576.
func thousands(n int64) string {
	str := strconv.FormatInt(n, 10)
	var b []byte
	for i, c := range []byte(str) {
		if i > 0 && (len(str)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, c)
	}
	return string(b)
}
