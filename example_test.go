package exigo_test

import (
	"fmt"

	"github.com/exigo-mta/exigo"
)

// A package declares a typed key once and keeps its per-recipient state
// with it; children made by redirection inherit the state.
func Example() {
	verdict := exigo.NewKey[string]("example.verdict")

	var env exigo.Envelope
	env.Sender = "alice@example.org"
	r := env.AddRecipient("list@example.com")
	r.Notify = exigo.NotifySuccess | exigo.NotifyFailure
	exigo.Set(&r.Attrs, verdict, "deliver")

	child := r.Child("bob@example.net")
	v, ok := exigo.Get(&child.Attrs, verdict)
	fmt.Println(child.Address, "from", child.Parent.Address, "verdict", v, ok)
	fmt.Println("NOTIFY=" + child.Notify.String())

	err := &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 7, 1}, Message: "relay not permitted"}
	fmt.Println(err, err.Temporary())
	// Output:
	// bob@example.net from list@example.com verdict deliver true
	// NOTIFY=SUCCESS,FAILURE
	// 550 5.7.1 relay not permitted false
}
