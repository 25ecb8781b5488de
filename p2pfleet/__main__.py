from p2pfleet.cli.main import main

main()
