// Package hostname gives the local host's name as the transports use it
// when none is configured: the EHLO and LHLO argument of the smtp and
// lmtp transports (Exim's primary_hostname default) and the host part of
// maildir file names.
package hostname

import (
	"os"
	"sync"
)

// Lazy is a host name looked up on first use. The zero value is ready to
// use; it must not be copied after first use. It is safe for concurrent
// use.
type Lazy struct {
	once sync.Once
	name string
}

// Get returns configured when it is not empty, and otherwise the system's
// host name (os.Hostname, looked up once), or "localhost" when that fails.
func (l *Lazy) Get(configured string) string {
	if configured != "" {
		return configured
	}
	l.once.Do(func() {
		l.name, _ = os.Hostname()
		if l.name == "" {
			l.name = "localhost"
		}
	})
	return l.name
}
