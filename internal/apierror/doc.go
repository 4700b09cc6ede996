// Package apierror builds the error bodies callfix answers with, in the
// format Genesys Cloud uses, so that an integration's existing SDK error
// handling reads them: the API's error body, and on the login routes the
// OAuth error body. No Go error text ever goes into one.
package apierror
