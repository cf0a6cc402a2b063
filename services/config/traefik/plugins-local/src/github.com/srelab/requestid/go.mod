module github.com/srelab/requestid

go 1.22
