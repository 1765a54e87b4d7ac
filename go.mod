module github.com/exigo-mta/exigo

go 1.26.0

require (
	github.com/emersion/go-message v0.18.2
	golang.org/x/sys v0.49.0
)

require (
	github.com/PowerDNS/lmdb-go v1.9.4
	github.com/miekg/dns v1.1.73
)

require (
	golang.org/x/net v0.57.0 // indirect
	gopkg.in/yaml.v3 v3.0.1
)
