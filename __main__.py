from tf2eng.cli.app import main

main()
