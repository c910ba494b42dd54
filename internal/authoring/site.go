// Package authoring holds the tools that write and test a site profile:
// probe (read an unknown portal), record (a person signs in and downloads
// once, the profile is written from it) and check (every selector of a
// profile tried against the live site). They run on the engine
// (internal/browser), the profile format of internal/profile and the
// sign-in and listing of internal/portal.
package authoring

import (
	"github.com/isaric/seftbot/internal/browser"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/profile"
)

// The words of the engine and the site, as the tools use them.
type (
	Options    = portal.Options
	Profile    = profile.Profile
	Login      = profile.Login
	Outcomes   = profile.Outcomes
	Files      = profile.Files
	More       = profile.More
	Field      = profile.Field
	UploadForm = profile.UploadForm
	Duration   = profile.Duration
	Sel        = browser.Sel
	Step       = browser.Step
	tab        = browser.Tab
	located    = browser.Located
	stepVars   = browser.Vars
	pageState  = portal.PageState
)

const (
	SiteDownload = profile.SiteDownload
	SiteUpload   = profile.SiteUpload

	MoreNavigate = profile.MoreNavigate
	MoreInPlace  = profile.MoreInPlace
	MoreAppend   = profile.MoreAppend
	MoreNone     = profile.MoreNone

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
	DefaultProfile   = profile.Default
	parseProfile     = profile.Parse
)
