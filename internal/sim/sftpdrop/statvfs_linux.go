package sftpdrop

import (
	"syscall"

	"github.com/pkg/sftp"
)

func statvfs(dir string) (*sftp.StatVFS, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil, err
	}
	return &sftp.StatVFS{
		Bsize:   uint64(st.Bsize),
		Frsize:  uint64(st.Frsize),
		Blocks:  st.Blocks,
		Bfree:   st.Bfree,
		Bavail:  st.Bavail,
		Files:   st.Files,
		Ffree:   st.Ffree,
		Favail:  st.Ffree, // Linux statfs has no separate favail
		Flag:    uint64(st.Flags),
		Namemax: uint64(st.Namelen),
	}, nil
}
