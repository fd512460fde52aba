def handle_customer_behavior(event_data):
    event = {
        'customer_id': event_data['data']['customer_id'],
        'action': event_data['event'],
        'timestamp': event_data['timestamp']
    }
    send_to_analytics_platform(event)
