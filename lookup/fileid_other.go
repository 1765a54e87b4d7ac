//go:build !linux

package lookup

import "os"

// fileID identifies one version of a file by its size and modification
// time (device, inode and change time are used on Linux).
type fileID struct {
	size  int64
	mtime int64 // ns
}

func idOf(fi os.FileInfo) fileID { return fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano()} }

func statID(path string) (fileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	return idOf(fi), nil
}
