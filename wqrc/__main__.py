from wqrc.cli import entry

entry()
