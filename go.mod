module github.com/exigo-mta/exigo

go 1.26

require github.com/emersion/go-message v0.18.2
