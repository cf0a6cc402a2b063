module github.com/srelab/bodylimit

go 1.22
