//go:build !linux

package sftpdrop

import "github.com/pkg/sftp"

func statvfs(string) (*sftp.StatVFS, error) { return nil, sftp.ErrSSHFxOpUnsupported }
