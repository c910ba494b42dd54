package portal

import "github.com/isaric/seftbot/internal/profile"

// The site-profile format (internal/profile), as the portal runs it.
type (
	Profile    = profile.Profile
	Login      = profile.Login
	Outcomes   = profile.Outcomes
	Expired    = profile.Expired
	Files      = profile.Files
	More       = profile.More
	Field      = profile.Field
	UploadForm = profile.UploadForm
	Duration   = profile.Duration
)

// Sites and paging modes.
const (
	SiteDownload = profile.SiteDownload
	SiteUpload   = profile.SiteUpload

	MoreNavigate = profile.MoreNavigate
	MoreInPlace  = profile.MoreInPlace
	MoreAppend   = profile.MoreAppend
	MoreNone     = profile.MoreNone
)

var (
	// LoadProfile reads a profile file for site; see profile.Load.
	LoadProfile = profile.Load
	// ParseProfile reads a profile from JSON; see profile.Parse.
	ParseProfile = profile.Parse
	// DefaultProfile is the built-in profile, which matches seftsim v1.
	DefaultProfile = profile.Default
	// SecretStep is the index of the step that sends the password (or the
	// file); see profile.SecretStep.
	SecretStep = profile.SecretStep
	secretStep = profile.SecretStep
)
