package spool

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// FormatSize formats a message size in five characters the way Exim's
// queue listing (exim -bp) does: "  241", " 1.0K", "  10K", " 1.5M",
// " 191M"; blanks for zero.
func FormatSize(n int64) string {
	const k, m = 1024, 1024 * 1024
	switch {
	case n == 0:
		return "     "
	case n < k:
		return fmt.Sprintf("%5d", n)
	case n < 10*k:
		return fmt.Sprintf("%4.1fK", float64(n)/k)
	case n < m:
		return fmt.Sprintf("%4dK", (n+512)/k)
	case n < 10*m:
		return fmt.Sprintf("%4.1fM", float64(n)/m)
	}
	return fmt.Sprintf("%4dM", (n+512*k)/m)
}

// FormatAge formats the time a message has been on the queue the way
// exim -bp does: minutes up to 90, then hours up to 72, then days,
// rounded to the nearest unit, at least two characters wide.
func FormatAge(seconds int64) string {
	i := seconds / 60
	if i > 90 {
		i = (i + 30) / 60
		if i > 72 {
			return fmt.Sprintf("%2dd", (i+12)/24)
		}
		return fmt.Sprintf("%2dh", i)
	}
	return fmt.Sprintf("%2dm", i)
}

// WriteListing writes the message's block of a queue listing exactly as
// exim -bp prints it: age, size, ID, sender (with the originator's login
// if the sender was set by an untrusted caller), "*** frozen ***", then
// each recipient indented, delivered ones (non-recipients or journal)
// marked D, then a blank line.
func (e *Entry) WriteListing(w io.Writer, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s <%s>", FormatAge(now.Unix()-e.Time), FormatSize(e.Size()), e.ID, e.Sender)
	if e.Has("sender_set_untrusted") {
		fmt.Fprintf(&b, " (%s)", e.Login)
	}
	if frozen, _ := e.Frozen(); frozen {
		b.WriteString(" *** frozen ***")
	}
	b.WriteByte('\n')
	for _, r := range e.Recipients {
		mark := " "
		if e.Delivered(r.Address) {
			mark = "D"
		}
		fmt.Fprintf(&b, "        %s %s\n", mark, r.Address)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
