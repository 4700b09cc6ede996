// Command callfix: see main.go and 'callfix help'.
package main
