"""The HTTP gateway: validates submissions, answers with a ticket number once Kafka has the record."""
