from groups import create_app

app = create_app()
