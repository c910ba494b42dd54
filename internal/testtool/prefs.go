package testtool

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// PasswordManagerOff fails unless the browser profile of the running
// browser pids says the password manager and autofill are off: the
// Preferences Chromium read at start, in its --user-data-dir.
func PasswordManagerOff(t *testing.T, pids []int) {
	t.Helper()
	if len(pids) == 0 {
		t.Fatal("no browser running")
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pids[0]) + "/cmdline")
	var dir string
	for _, a := range strings.Split(string(b), "\x00") {
		if d, ok := strings.CutPrefix(a, "--user-data-dir="); ok {
			dir = d
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "Default", "Preferences"))
	if err != nil {
		t.Fatalf("the browser's preferences: %v", err)
	}
	var p struct {
		Credentials *bool `json:"credentials_enable_service"`
		Profile     struct {
			PasswordManager *bool `json:"password_manager_enabled"`
		} `json:"profile"`
		Autofill struct {
			Profile    *bool `json:"profile_enabled"`
			CreditCard *bool `json:"credit_card_enabled"`
		} `json:"autofill"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]*bool{"credentials_enable_service": p.Credentials, "profile.password_manager_enabled": p.Profile.PasswordManager,
		"autofill.profile_enabled": p.Autofill.Profile, "autofill.credit_card_enabled": p.Autofill.CreditCard} {
		if v == nil || *v {
			t.Errorf("browser preference %s is not false", name)
		}
	}
}
