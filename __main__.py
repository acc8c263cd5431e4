from tf2eng.cli.entry import main

main()
