// Package authoring holds the tools that write and test a site profile:
// probe (read an unknown portal), record (a person signs in and downloads
// once, the profile is written from it) and check (every selector of a
// profile tried against the live site). They run on the engine
// (internal/browser) and the profile format and sign-in of internal/portal.
package authoring

import (
	"github.com/isaric/seftbot/internal/browser"
	"github.com/isaric/seftbot/internal/portal"
)

// The words of the engine and the site, as the tools use them.
type (
	Options    = portal.Options
	Profile    = portal.Profile
	Login      = portal.Login
	Outcomes   = portal.Outcomes
	Files      = portal.Files
	More       = portal.More
	Field      = portal.Field
	UploadForm = portal.UploadForm
	Duration   = portal.Duration
	Sel        = browser.Sel
	Step       = browser.Step
	tab        = browser.Tab
	located    = browser.Located
	stepVars   = browser.Vars
	pageState  = portal.PageState
)

const (
	SiteDownload = portal.SiteDownload
	SiteUpload   = portal.SiteUpload

	MoreNavigate = portal.MoreNavigate
	MoreInPlace  = portal.MoreInPlace
	MoreAppend   = portal.MoreAppend
	MoreNone     = portal.MoreNone

	LatchRefused         = portal.LatchRefused
	LatchLocked          = portal.LatchLocked
	LatchPasswordExpired = portal.LatchPasswordExpired
	LatchUnknown         = portal.LatchUnknown
)

var (
	ErrProfile       = portal.ErrProfile
	ErrPortal        = portal.ErrPortal
	ErrLocal         = portal.ErrLocal
	mouseClick       = browser.MouseClick
	redactURL        = browser.RedactURL
	logName          = portal.LogName
	errTabDead       = browser.ErrTabDead
	readState        = portal.ReadState
	navigate         = portal.Navigate
	ErrLatched       = portal.ErrLatched
	ErrLoginRejected = portal.ErrLoginRejected
	ErrLoginUnknown  = portal.ErrLoginUnknown
	DefaultProfile   = portal.DefaultProfile
	parseProfile     = portal.ParseProfile
)
