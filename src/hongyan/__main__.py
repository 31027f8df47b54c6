from hongyan.cli.main import main

main()
