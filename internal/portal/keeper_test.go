package portal

import (
	"context"
	"sync"
	"testing"

	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/staging"
)

// claimKeeper is staging's manifest, except that it claims to have one
// file and counts what it is handed.
type claimKeeper struct {
	*staging.Manifest
	claim string

	mu        sync.Mutex
	committed map[string]bool
	added     map[string]bool
}

func (k *claimKeeper) Has(name string, ordinal int, size int64) bool {
	return name == k.claim || k.Manifest.Has(name, ordinal, size)
}

func (k *claimKeeper) Commit(tmp, dir, local string, want int64) (int64, string, error) {
	k.mu.Lock()
	k.committed[local] = true
	k.mu.Unlock()
	return k.Manifest.Commit(tmp, dir, local, want)
}

func (k *claimKeeper) Add(f File, ordinal int) error {
	k.mu.Lock()
	k.added[f.LocalName] = true
	k.mu.Unlock()
	return k.Manifest.Add(f, ordinal)
}

// TestDownloadAsksItsKeeper: Download asks Options.Keeper what is had and
// hands it each completed file to commit and record; a file the keeper
// says it has is not fetched.
func TestDownloadAsksItsKeeper(t *testing.T) {
	s := startSim(t, sim.Options{Files: 4})
	o := simOptions(t, s, SiteDownload)
	m, err := staging.OpenManifest(o.StateDir, o.StagingDir)
	if err != nil {
		t.Fatal(err)
	}
	claim, same := s.Files()[0].Name, 0
	for _, f := range s.Files() {
		if f.Name == claim {
			same++
		}
	}
	k := &claimKeeper{Manifest: m, claim: claim, committed: map[string]bool{}, added: map[string]bool{}}
	o.Keeper = k
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.New) != 4-same || res.Skipped != same {
		t.Fatalf("new %d, skipped %d; want %d, %d (the keeper has %s)", len(res.New), res.Skipped, 4-same, same, LogName(claim))
	}
	for _, f := range res.New {
		if f.Name == claim {
			t.Errorf("fetched %s, which the keeper has", LogName(claim))
		}
		if !k.committed[f.LocalName] || !k.added[f.LocalName] {
			t.Errorf("%s: committed %v, added %v; want both through the keeper", f.LocalName, k.committed[f.LocalName], k.added[f.LocalName])
		}
	}
	if len(k.committed) != 4-same || len(k.added) != 4-same {
		t.Errorf("keeper committed %d, added %d; want %d each", len(k.committed), len(k.added), 4-same)
	}
	checkNoLeaks(t)
}
